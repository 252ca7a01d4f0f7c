"""The upstream client (first cut: pooled httpx, auth, error translation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

import httpx
import msgspec

from adapters.base import Credential
from canonical.problems import (
    AgencyAuthFailed,
    AgencyRateLimited,
    AgencyRejected,
    AgencyUnavailable,
    OutcomeUnknown,
)

__all__ = [
    "Auth",
    "BearerAuth",
    "OAuth2ClientCredentials",
    "SharedState",
    "UpstreamClient",
    "UpstreamResponse",
]

T = TypeVar("T")


class SharedState(Protocol):
    """What the upstream plumbing needs from the gateway's store, shared by all replicas."""

    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None: ...

    async def acquire_rate(self, key: str, limits: Sequence[tuple[int, float]]) -> float:
        """Take one slot under every (count, period_seconds) limit; 0.0 if taken, else seconds to wait."""
        ...


class BearerAuth(msgspec.Struct, frozen=True, kw_only=True):
    token: str

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


class OAuth2ClientCredentials(msgspec.Struct, frozen=True, kw_only=True):
    token_url: str
    client_id: str
    client_secret: str
    audience: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"


Auth = BearerAuth | OAuth2ClientCredentials | None


class UpstreamResponse(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self, type: type[T]) -> T:
        return msgspec.json.decode(self.content, type=type)


class _Token(msgspec.Struct, frozen=True):
    access_token: str
    expires_at: float


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: float = 300


class UpstreamClient:
    """One per agency. `request` is the only way an adapter reaches its agency."""

    def __init__(
        self,
        agency: str,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        shared: SharedState | None = None,
        rate_limits: Sequence[tuple[int, float]] = (),
    ) -> None:
        self.agency = agency
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport, timeout=timeout)
        self._shared = shared
        self._rate_limits = tuple(rate_limits)
        self._tokens: dict[str, _Token] = {}
        self._token_locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        credential: Credential,
        auth: Auth,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        write: bool = False,
        allow: frozenset[int] = frozenset(),
    ) -> UpstreamResponse:
        """Send one call; 2xx and statuses in `allow` are returned, everything else raised.

        `write=True` marks a call that changes state at the agency: a timeout after sending it
        raises `OutcomeUnknown` (reconcile before resending) instead of being retried here.
        """
        body = msgspec.json.encode(json) if json is not None else None
        send_headers = dict(headers or {})
        if body is not None:
            send_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if auth is not None:
                send_headers["Authorization"] = f"Bearer {await self._token(auth, fresh=attempt > 1)}"
            try:
                response = await self._http.request(
                    method, path, params=params, content=body, headers=send_headers
                )
            except httpx.ConnectError as exc:
                raise AgencyUnavailable(f"{self.agency}: cannot connect", agency=self.agency) from exc
            except httpx.TransportError as exc:
                if write:
                    raise OutcomeUnknown(f"{self.agency}: no answer to a write", agency=self.agency) from exc
                raise AgencyUnavailable(f"{self.agency}: {type(exc).__name__}", agency=self.agency) from exc
            if response.status_code == 401 and attempt == 1 and isinstance(auth, OAuth2ClientCredentials):
                continue  # one transparent retry with a fresh token
            break
        status = response.status_code
        if 200 <= status < 300 or status in allow:
            return UpstreamResponse(status=status, headers=dict(response.headers), content=response.content)
        raise self._error(response, write=write)

    def _error(self, response: httpx.Response, *, write: bool) -> Exception:
        status = response.status_code
        message = _agency_message(response.content) or f"HTTP {status}"
        request_id = response.headers.get("x-request-id")
        kwargs: dict[str, Any] = {"agency": self.agency, "agency_request_id": request_id}
        if status in (401, 403):
            return AgencyAuthFailed(f"{self.agency}: {message}", **kwargs)
        if status == 429:
            return AgencyRateLimited(
                f"{self.agency}: rate limited", retry_after=_retry_after(response.headers), **kwargs
            )
        if status >= 500 or status == 408:
            if write:
                return OutcomeUnknown(f"{self.agency}: HTTP {status} to a write", **kwargs)
            return AgencyUnavailable(
                f"{self.agency}: HTTP {status}", retry_after=_retry_after(response.headers), **kwargs
            )
        return AgencyRejected(message, **kwargs)

    async def _token(self, auth: BearerAuth | OAuth2ClientCredentials, *, fresh: bool) -> str:
        if isinstance(auth, BearerAuth):
            return auth.token
        key = f"{auth.token_url}|{auth.client_id}"
        lock = self._token_locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._tokens.get(key)
            if token is None or fresh or token.expires_at - 30 < time.time():
                token = await self._fetch_token(auth)
                self._tokens[key] = token
            return token.access_token

    async def _fetch_token(self, auth: OAuth2ClientCredentials) -> _Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": auth.client_id,
            "client_secret": auth.client_secret,
        }
        if auth.audience:
            form["audience"] = auth.audience
        if auth.scope:
            form["scope"] = auth.scope
        try:
            response = await self._http.post(auth.token_url, data=form)
        except httpx.TransportError as exc:
            raise AgencyUnavailable(f"{self.agency}: token endpoint unreachable", agency=self.agency) from exc
        if response.status_code in (400, 401, 403):
            raise AgencyAuthFailed(f"{self.agency}: token refused", agency=self.agency)
        if response.status_code != 200:
            raise AgencyUnavailable(
                f"{self.agency}: token endpoint HTTP {response.status_code}", agency=self.agency
            )
        answer = msgspec.json.decode(response.content, type=_TokenAnswer)
        return _Token(answer.access_token, time.time() + answer.expires_in)


class _Message(msgspec.Struct):
    message: str | None = None
    detail: str | None = None
    title: str | None = None
    error_description: str | None = None
    error: Any = None


def _agency_message(content: bytes) -> str | None:
    try:
        m = msgspec.json.decode(content, type=_Message)
    except msgspec.DecodeError:
        text = content.decode(errors="replace").strip()
        return text[:500] or None
    for value in (m.message, m.detail, m.error_description, m.title, m.error):
        if value:
            return str(value)[:500]
    return None


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
