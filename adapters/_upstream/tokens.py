"""OAuth2 client-credentials tokens (RFC 6749 §4.4), cached, single-flight and shared.

- Cached per (agency, credential, client) in this process and in SharedState, so every replica
  reuses one token until shortly before `expires_in` (Intrum: 300 s, "Token URLs").
- Single-flight: one token request per key in this process, however many calls wait for it.
- `refresh_rejected(token)`: after a 401 the rejected token is dropped here and in SharedState
  and one fresh token is fetched — unless a concurrent caller (or replica) already replaced it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import httpx
import msgspec

from adapters._upstream import metrics
from adapters._upstream.errors import agency_message, error_for_exception
from adapters._upstream.shared import SharedState
from adapters.base import Credential
from canonical.problems import AgencyAuthFailed, AgencyUnavailable

__all__ = ["OAuth2ClientCredentials", "TokenProvider"]


class OAuth2ClientCredentials(msgspec.Struct, frozen=True, kw_only=True):
    token_url: str
    client_id: str
    client_secret: str
    audience: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"


class _Token(msgspec.Struct, frozen=True, array_like=True):
    access_token: str
    refresh_at: float  # wall clock: renew from here on, a margin before the agency's expiry


class _TokenAnswer(msgspec.Struct):
    access_token: str
    expires_in: float = 300


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Token).decode


def _decode_or_none(raw: bytes | None) -> _Token | None:
    if not raw:  # absent, or b"" where a rejected token was struck out
        return None
    try:
        return _decode(raw)
    except msgspec.DecodeError:  # written by another version: fetch a new one
        return None


class TokenProvider:
    def __init__(
        self,
        agency: str,
        http: httpx.AsyncClient,
        shared: SharedState,
        *,
        timeout: float,
        refresh_margin: float,
        clock: Callable[[], float],
    ) -> None:
        self.agency = agency
        self._http = http
        self._shared = shared
        self._timeout = timeout
        self._margin = refresh_margin
        self._clock = clock
        self._local: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _key(self, auth: OAuth2ClientCredentials, credential: Credential) -> str:
        # A tenant may hold a read-only and a full client at one agency: one token each.
        client = hashlib.sha256(
            f"{auth.token_url}|{auth.client_id}|{auth.audience}|{auth.scope}".encode()
        ).hexdigest()[:16]
        return f"oauth2-token:{self.agency}:{credential.key}:{client}"

    async def token(self, auth: OAuth2ClientCredentials, credential: Credential) -> str:
        key = self._key(auth, credential)
        token = self._local.get(key)
        if token is not None and token.refresh_at > self._clock():
            return token.access_token
        return await self._renew(key, auth, rejected=None)

    async def refresh_rejected(
        self, auth: OAuth2ClientCredentials, credential: Credential, rejected: str
    ) -> str:
        """A fresh token after the agency answered 401 to `rejected`."""
        return await self._renew(self._key(auth, credential), auth, rejected=rejected)

    async def _renew(self, key: str, auth: OAuth2ClientCredentials, rejected: str | None) -> str:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            now = self._clock()
            token = self._local.get(key)
            if token is not None and token.refresh_at > now and token.access_token != rejected:
                return token.access_token  # renewed while we queued
            raw = await self._shared.cache_get(key)
            token = _decode_or_none(raw)
            if token is not None and token.refresh_at > now and token.access_token != rejected:
                self._local[key] = token  # another replica's token
                return token.access_token
            if rejected is not None:  # nobody may reuse it, even if the request below fails
                self._local.pop(key, None)
                await self._shared.cache_set(key, b"", 1.0)
            token = await self._fetch(auth)
            self._local[key] = token
            await self._shared.cache_set(key, _encode(token), max(1.0, token.refresh_at - self._clock()))
            return token.access_token

    async def _fetch(self, auth: OAuth2ClientCredentials) -> _Token:
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
            async with asyncio.timeout(self._timeout):
                response = await self._http.post(
                    auth.token_url, data=form, headers={"Accept": "application/json"}
                )
        except (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError) as exc:
            metrics.TOKEN_REQUESTS.labels(self.agency, "no_answer").inc()
            raise error_for_exception(self.agency, exc, write=False) from exc
        status = response.status_code
        if status in (400, 401, 403):  # RFC 6749 §5.2: invalid_client, unauthorized_client, ...
            metrics.TOKEN_REQUESTS.labels(self.agency, "refused").inc()
            message = agency_message(response.content) or f"HTTP {status}"
            raise AgencyAuthFailed(f"{self.agency}: token refused: {message}", agency=self.agency)
        try:
            if status != 200:
                raise ValueError(f"HTTP {status}")
            answer = msgspec.json.decode(response.content, type=_TokenAnswer)
        except (ValueError, msgspec.DecodeError) as exc:
            metrics.TOKEN_REQUESTS.labels(self.agency, "failed").inc()
            raise AgencyUnavailable(f"{self.agency}: token endpoint: {exc}", agency=self.agency) from exc
        metrics.TOKEN_REQUESTS.labels(self.agency, "issued").inc()
        margin = min(self._margin, answer.expires_in / 10)
        return _Token(answer.access_token, self._clock() + answer.expires_in - margin)
