"""The server's own limits (issue 14 item 6): a key is checked before any body is read, a slow
request head closes the connection, a slow body answers 408, and `serve` bounds connections."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.server import HeadTimeoutProtocol, server_options
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import TENANT_KEY, gateway_settings

HEAD = (
    b"POST /v1/tenants/acme/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Idempotency-Key: slow-1\r\nContent-Length: 100000\r\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    specs = {"fake": fake_spec(FakeAgency())}
    settings = gateway_settings(specs, run_worker=False, body_timeout_seconds=0.5)
    running = serve_in_thread(create_app(settings, specs=specs))
    try:
        yield running
    finally:
        running.stop()


async def _answer(port: int, request: bytes, *, bound: float = 5) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), bound)
    finally:
        writer.close()


async def test_without_a_key_the_body_is_not_waited_for(server: RunningServer) -> None:
    started = time.monotonic()
    answer = await _answer(server.port, HEAD + b"\r\n" + b'{"client_reference": ')
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert time.monotonic() - started < 0.5  # did not wait for the 100,000 bytes announced


async def test_a_body_that_does_not_arrive_in_time_is_a_408(server: RunningServer) -> None:
    request = HEAD + b"Authorization: Bearer " + TENANT_KEY.encode() + b"\r\n\r\n" + b'{"client_reference": '
    answer = await _answer(server.port, request)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer


def test_a_request_head_that_does_not_arrive_in_time_closes_the_connection() -> None:
    class Quick(HeadTimeoutProtocol):
        header_timeout = 0.3

    async def app(scope: dict[str, object], receive: object, send: object) -> None:  # never reached
        raise AssertionError("no request should get this far")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=Quick, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not uv.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with socket.create_connection(sock.getsockname(), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            started = time.monotonic()
            assert client.recv(1024) == b""  # closed by the server
            assert time.monotonic() - started < 3
    finally:
        uv.should_exit = True
        thread.join(5)


def test_serve_bounds_connections_and_keep_alive() -> None:
    specs = {"fake": fake_spec(FakeAgency())}
    options = server_options(gateway_settings(specs, max_connections=50, keep_alive_seconds=3))
    assert options["limit_concurrency"] == 50
    assert options["timeout_keep_alive"] == 3
    assert options["http"] is HeadTimeoutProtocol
