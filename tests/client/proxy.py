"""A one-request-per-connection HTTP proxy in front of the gateway that can misbehave on cue.

`plan` holds what happens to the next requests, in order: "drop" forwards the request to the
gateway, reads its answer and closes the client's connection without sending it (a connection
lost after the gateway committed); "429" answers `429` with `Retry-After: 1` without
forwarding. Anything else, or an empty plan, passes the answer through. `seen` records each
request: (monotonic time, method, path, status sent or "dropped").
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

__all__ = ["Proxy"]


def _read_message(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.plan: list[str] = []
        self.seen: list[tuple[float, str, str, int | str]] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self._stop = threading.Event()
        self.base_url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(30)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = _read_message(conn)
            if not request:
                return
            method, target = request.split(b" ", 2)[:2]
            with self._lock:
                action = self.plan.pop(0) if self.plan else "pass"
            at = time.monotonic()
            if action == "429":
                body = (
                    b'{"type":"about:blank","title":"Too many requests","status":429,"code":"rate_limited"}'
                )
                conn.sendall(
                    b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/problem+json\r\n"
                    b"retry-after: 1\r\nconnection: close\r\ncontent-length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                self._record(at, method, target, 429)
                return
            with socket.create_connection(self.upstream) as upstream:
                upstream.sendall(request)
                answer = _read_message(upstream)
            if action == "drop":
                self._record(at, method, target, "dropped")
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                return
            status_line, _, rest = answer.partition(b"\r\n")
            conn.sendall(status_line + b"\r\nconnection: close\r\n" + rest)
            self._record(at, method, target, int(status_line.split(b" ")[1]))

    def _record(self, at: float, method: bytes, target: bytes, status: int | str) -> None:
        with self._lock:
            self.seen.append((at, method.decode(), target.decode(), status))
