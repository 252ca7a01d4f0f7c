"""A small agency for the upstream client's tests: real HTTP, an OAuth2 token endpoint, scripted
answers, and a sliding-window rate limit that answers 429 the way Intrum documents it.

Tests steer it through the `Agency` object directly (the server runs in a thread of the test
process) and assert on what it received.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response, get, post

from adapters.base import Credential

__all__ = ["AGENCY", "CREDENTIAL", "OTHER_CREDENTIAL", "Agency", "Answer", "create_app"]

AGENCY = "acme"
CREDENTIAL = Credential(agency=AGENCY, tenant="t1", key=f"{AGENCY}:account-1", fields={})
OTHER_CREDENTIAL = Credential(agency=AGENCY, tenant="t2", key=f"{AGENCY}:account-2", fields={})


@dataclass
class Answer:
    """One scripted answer: the next matching call gets it instead of the normal one."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to hold the answer (the client times out first)


@dataclass
class Call:
    method: str
    path: str
    authorization: str | None
    at: float


class Agency:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.token_requests = 0
        self.token_latency = 0.0
        self.expires_in = 300.0
        self.refuse_tokens = False
        self.valid_tokens: set[str] = {"static-token"}
        self.require_token = True
        self.accept_issued_tokens = True
        self.calls: list[Call] = []
        self.script: deque[Answer] = deque()
        self.limit: tuple[int, float] | None = None
        self.arrivals: list[float] = []  # monotonic, of calls under `limit`
        self.answered_429 = 0
        self._serial = itertools.count(1)

    def answer_next(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def revoke_tokens(self) -> None:
        self.valid_tokens = {"static-token"}

    def calls_to(self, path: str) -> int:
        return sum(1 for c in self.calls if c.path == path)

    def issue(self) -> str:
        token = f"token-{next(self._serial)}"
        self.valid_tokens.add(token)
        return token


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=body, status_code=status, headers=headers or {}, media_type="application/json")


def create_app(agency: Agency) -> Litestar:
    @post("/token")
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        with agency.lock:
            agency.token_requests += 1
        if agency.token_latency:
            await asyncio.sleep(agency.token_latency)  # keeps concurrent callers waiting on one request
        if agency.refuse_tokens or form.get("grant_type") != "client_credentials":
            return _json(401, {"error": "invalid_client", "error_description": "Invalid client credentials"})
        return _json(
            200, {"access_token": agency.issue(), "token_type": "Bearer", "expires_in": agency.expires_in}
        )

    async def serve(request: Request[Any, Any, Any], body: Any) -> Response[Any]:
        authorization = request.headers.get("authorization")
        agency.calls.append(Call(request.method, request.url.path, authorization, time.monotonic()))
        bearer = (authorization or "").removeprefix("Bearer ")
        valid = bearer == "static-token" or (agency.accept_issued_tokens and bearer in agency.valid_tokens)
        if agency.require_token and not valid:
            return _json(401, {"message": "Access denied"})
        if agency.limit is not None:
            count, period = agency.limit
            now = time.monotonic()
            with agency.lock:
                recent = sum(1 for t in agency.arrivals if t > now - period)
                if recent >= count:  # Intrum "Rate Limiting": 429 with Retry-After and X-RateLimit-*
                    agency.answered_429 += 1
                    return _json(429, {"message": "Too Many Requests"}, {"Retry-After": "1"})
                agency.arrivals.append(now)
        if agency.script:
            answer = agency.script.popleft()
            if answer.hang:
                await asyncio.sleep(answer.hang)
            return _json(answer.status, answer.body, answer.headers)
        return _json(200, body)

    @get("/items/{item_id:str}")
    async def item(request: Request[Any, Any, Any]) -> Response[Any]:
        return await serve(request, {"id": request.path_params["item_id"]})

    @post("/payments")
    async def payment(request: Request[Any, Any, Any]) -> Response[Any]:
        return await serve(request, {"received": await request.json()})

    return Litestar([token, item, payment], debug=False)
