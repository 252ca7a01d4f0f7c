"""What every agency sandbox shares: fault switches, a ledger of writes, and a real HTTP server.

A sandbox is a Litestar app that behaves like its agency. Wrap its ASGI app with
`with_faults(app, state)` and add `state.routes()` to it: tests then steer faults over HTTP
(`PUT /_sandbox/faults`) and read what the agency received (`GET /_sandbox/ledger`).

Faults (each counts down as it fires; `paths` limits them to matching paths):
- `latency_ms`: every request waits this long first;
- `fail_5xx`: the next N requests answer 503 without touching state;
- `rate_limit_429`: the next N requests answer 429 with `Retry-After: retry_after`;
- `commit_then_timeout`: the next N writes are carried out, then the answer is held for
  `hang_seconds` — the client times out not knowing the write happened.
- `commit_late`: the next N writes wait `hang_seconds` and only then are carried out — the
  client has timed out long before, and a look-up made right after its timeout finds nothing
  (a "ghost write": what a slow agency does under load).

Agency-side activity (what the agency does on its own: collect a payment from a debtor, change a
case's status): each sandbox registers one step with `state.on_activity(step)`.
`PUT /_sandbox/activity {"every_seconds": 20}` makes the agency take a step every so often — applied
when the agency is next asked, the way its asynchronous processing is, so nothing runs between
requests — and `POST /_sandbox/activity/step` takes one now. Off by default: tests drive the
agency with its own explicit controls (`/_sandbox/<agency>/...`), `make run` switches it on.
`POST /_sandbox/feed/poison` (registered with `state.on_poison`) puts one record into the
agency's change feed that no adapter can read (the conformance kit checks it is set aside).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

__all__ = [
    "ActivityPlan",
    "FaultPlan",
    "LedgerEntry",
    "RunningServer",
    "SandboxState",
    "serve_in_thread",
    "with_faults",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FaultPlan(msgspec.Struct, kw_only=True):
    """The fault switches of every sandbox: `PUT /_sandbox/faults` with this body (JSON).

    Counters count down, one per request they hit, then the sandbox behaves again. They apply in
    this order, to the agency's own routes only (never `/_sandbox/...`), and only to request
    paths matching `paths` when it is set. `GET /_sandbox/ledger` then shows what the agency
    carried out (`entries`: one per write, with its kind, key and body) and how many requests it
    received (`requests`); `POST /_sandbox/reset` clears faults and ledger.
    """

    #: Every request waits this long first.
    latency_ms: int = 0
    #: The next N requests answer 503, and nothing is carried out.
    fail_5xx: int = 0
    #: The next N requests answer 429 with `Retry-After: retry_after`, and nothing is carried out.
    rate_limit_429: int = 0
    retry_after: int = 1
    #: The next N writes (POST/PUT/PATCH/DELETE) are carried out, and their answer is held back
    #: `hang_seconds` — past the client's timeout: the lost answer after a commit.
    commit_then_timeout: int = 0
    commit_late: int = 0
    hang_seconds: float = 5.0
    #: Regex; faults apply only to request paths it matches (None = all).
    paths: str | None = None


class ActivityPlan(msgspec.Struct, kw_only=True):
    """How often the agency acts on its own (0 = never)."""

    every_seconds: float = 0.0


class LedgerEntry(msgspec.Struct, kw_only=True):
    """One write the agency carried out, as it received it."""

    kind: str
    key: str
    body: Any = None
    at: float = 0.0


class SandboxState:
    """Faults and ledger of one sandbox instance."""

    def __init__(self) -> None:
        self.faults = FaultPlan()
        self.ledger: list[LedgerEntry] = []
        self.requests = 0
        self.activity = ActivityPlan()
        self._activity_step: Callable[[], Any] | None = None
        self._poison: Callable[[], Any] | None = None
        self._last_activity = time.monotonic()
        #: Late commits (`commit_late`) carried out so far: a test waits for them before counting.
        self.late_commits = 0

    def on_activity(self, step: Callable[[], Any]) -> None:
        """Register the agency's own step (collect a payment, change a status); returns anything."""
        self._activity_step = step

    def on_poison(self, poison: Callable[[], Any]) -> None:
        """Register how the agency puts a record nobody can read into its change feed."""
        self._poison = poison

    def act(self) -> Any:
        """Take one activity step now (None when the sandbox has none)."""
        self._last_activity = time.monotonic()
        return None if self._activity_step is None else self._activity_step()

    def act_if_due(self) -> None:
        """Take the steps whose time has come (at most one per request: time is coarse here)."""
        every = self.activity.every_seconds
        if every > 0 and time.monotonic() - self._last_activity >= every:
            self.act()

    def record(self, kind: str, key: str, body: Any = None) -> None:
        self.ledger.append(LedgerEntry(kind=kind, key=key, body=body, at=time.time()))

    def reset(self) -> None:
        self.faults = FaultPlan()
        self.ledger.clear()
        self.requests = 0
        self.activity = ActivityPlan()
        self.late_commits = 0

    def routes(self) -> list[Any]:
        """Litestar handlers for `/_sandbox/faults`, `/_sandbox/ledger`, `/_sandbox/reset`,
        `/_sandbox/activity` and `/_sandbox/activity/step`."""
        from litestar import get, post, put
        from litestar.params import JSONBody

        state = self

        @put("/_sandbox/faults", sync_to_thread=False)
        def set_faults(data: JSONBody[FaultPlan]) -> FaultPlan:
            state.faults = data
            return data

        @get("/_sandbox/ledger", sync_to_thread=False)
        def ledger() -> dict[str, Any]:
            return {"entries": state.ledger, "requests": state.requests, "late_commits": state.late_commits}

        @post("/_sandbox/reset", status_code=204, sync_to_thread=False)
        def reset() -> None:
            state.reset()

        @put("/_sandbox/activity", sync_to_thread=False)
        def set_activity(data: JSONBody[ActivityPlan]) -> ActivityPlan:
            state.activity = data
            state._last_activity = time.monotonic()
            return data

        @post("/_sandbox/activity/step", status_code=200, sync_to_thread=False)
        def step() -> dict[str, Any]:
            return {"activity": msgspec.to_builtins(state.act())}

        @post("/_sandbox/feed/poison", status_code=201, sync_to_thread=False)
        def poison() -> dict[str, Any]:
            return {"poison": msgspec.to_builtins(None if state._poison is None else state._poison())}

        return [set_faults, ledger, reset, set_activity, step, poison]


def with_faults(app: ASGIApp, state: SandboxState) -> ASGIApp:
    """Wrap a sandbox's ASGI app so the fault plan in `state` applies to its requests."""

    async def faulty(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await app(scope, receive, send)
            return
        state.requests += 1
        state.act_if_due()
        plan = state.faults
        if plan.paths is not None and not re.search(plan.paths, scope["path"]):
            await app(scope, receive, send)
            return
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000)
        if plan.fail_5xx > 0:
            plan.fail_5xx -= 1
            await _answer(send, 503, b'{"message":"Service temporarily unavailable"}')
            return
        if plan.rate_limit_429 > 0:
            plan.rate_limit_429 -= 1
            headers = [(b"retry-after", str(plan.retry_after).encode())]
            await _answer(send, 429, b'{"message":"Too Many Requests"}', headers)
            return
        if scope["method"] in _WRITES and plan.commit_then_timeout > 0:
            plan.commit_then_timeout -= 1
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await app(scope, receive, hold)  # the write happens...
            await asyncio.sleep(plan.hang_seconds)  # ...and the answer comes too late
            try:
                for message in held:
                    await send(message)
            except Exception:  # the client has gone; that is the point
                return
            return
        if scope["method"] in _WRITES and plan.commit_late > 0:
            plan.commit_late -= 1
            body: list[Message] = []
            while True:  # the request as sent, read before the client gives up
                message = await receive()
                body.append(message)
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            await asyncio.sleep(plan.hang_seconds)
            replay = iter(body)

            async def replayed() -> Message:
                return next(replay, {"type": "http.disconnect"})

            async def dropped(message: Message) -> None:
                with contextlib.suppress(Exception):  # the client has gone; that is the point
                    await send(message)

            try:
                await app(scope, replayed, dropped)  # the write happens now, too late for the answer
            finally:
                state.late_commits += 1
            return
        await app(scope, receive, send)

    return faulty


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RunningServer:
    """A uvicorn server on a free loopback port, in a daemon thread."""

    def __init__(self, server: Any, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve_in_thread(app: ASGIApp, port: int = 0, host: str = "127.0.0.1") -> RunningServer:
    """Serve `app` over real HTTP on `host:port` (0 = a free port) until `stop()`."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="auto", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
    return RunningServer(server, thread, sock.getsockname()[1])
