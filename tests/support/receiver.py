"""A webhook receiver for tests: a tiny ASGI app on a free port that records what it was sent.

It answers from a script (`answers`: status codes, consumed in order, then 200) and can hold a
request open (`hold`) to play a slow or dying receiver. Its own check is the Standard Webhooks
reference (`standardwebhooks.Webhook.verify`), as an internal service would use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import msgspec
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from adapters.sandbox_kit import RunningServer, serve_in_thread


class Received(msgspec.Struct, kw_only=True):
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def event(self) -> dict[str, Any]:
        return msgspec.json.decode(self.body)  # type: ignore[no-any-return]

    def verifies_with(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: list[int | tuple[int, dict[str, str]]] = []
        self.hold: threading.Event | None = None
        self.entered = threading.Event()
        self._lock = threading.Lock()
        self.server: RunningServer | None = None

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.entered.set()
        if self.hold is not None:
            hold = self.hold
            await asyncio.to_thread(hold.wait, 10)
        with self._lock:
            answer = self.answers.pop(0) if self.answers else 200
            status, extra = answer if isinstance(answer, tuple) else (answer, {})
            self.received.append(Received(path=scope["path"], headers=headers, body=body, status=status))
        out = [(b"content-type", b"text/plain"), *((k.encode(), v.encode()) for k, v in extra.items())]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b"ok"})

    def start(self) -> Receiver:
        self.server = serve_in_thread(self)  # type: ignore[arg-type]
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.base_url + "/hooks"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first `count` requests, waiting (polling, bounded) until they are in."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count:
            assert loop.time() < deadline, f"receiver got {len(self.received)} of {count} requests"
            await asyncio.sleep(0.005)
        return self.received[:count]
