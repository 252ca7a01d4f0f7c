"""What the sync and async clients share: requests as data, one retry policy, answer decoding."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import time
import uuid
from collections.abc import Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from collection_gateway_client.errors import (
    GatewayError,
    IdempotencyInProgress,
    RateLimited,
    ServerError,
    problem_error,
)

__all__ = ["Call", "RetryPolicy", "decode", "path", "retry_after", "should_retry"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """One policy for every request (stamina: exponential backoff with jitter, bounded).

    Retried: timeouts and dropped connections, 5xx, 429 (waiting at least `Retry-After`) and
    409 `idempotency_in_progress`. Writes are retried with the same Idempotency-Key, so a retry
    never makes a second claim or payment: the gateway answers the first outcome again.
    """

    attempts: int = 6
    #: The whole call, all attempts and waits included, in seconds.
    timeout: float = 60.0
    wait_initial: float = 0.2
    wait_max: float = 5.0
    wait_jitter: float = 0.5
    #: A `Retry-After` longer than this is not waited for: the error is raised.
    max_retry_after: float = 30.0


def should_retry(policy: RetryPolicy) -> Any:
    """stamina's backoff hook: False (raise), True (back off), or the seconds Retry-After asks."""

    def hook(exc: Exception) -> bool | float:
        if isinstance(exc, httpx.TransportError):  # timeouts, resets, a connection dropped mid-answer
            return True
        if isinstance(exc, RateLimited | ServerError | IdempotencyInProgress):
            if exc.retry_after is not None:
                return exc.retry_after if exc.retry_after <= policy.max_retry_after else False
            return True
        return False

    return hook


@dataclasses.dataclass(frozen=True, kw_only=True)
class Call(Generic[T]):
    """One API request and the type of its answer."""

    method: str
    path: str
    answer: Any  # type[T], or a generic alias such as Page[Claim]
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    body: Any = None
    #: A write: sent with an Idempotency-Key, the same on every retry.
    write: bool = False
    idempotency_key: str | None = None
    wait: int | None = None

    def with_params(self, **params: Any) -> Call[T]:
        return dataclasses.replace(self, params={**self.params, **params})

    def request(self) -> tuple[dict[str, str], dict[str, Any], bytes | None]:
        """(headers, query params, body) — the key is fixed here, once per call."""
        headers = {"X-Request-Id": uuid.uuid4().hex}
        if self.write:
            headers["Idempotency-Key"] = self.idempotency_key or str(uuid.uuid4())
        if self.wait:
            headers["Prefer"] = f"wait={min(self.wait, 30)}"
        content = None
        if self.body is not None:
            content = _encoder.encode(self.body)
            headers["Content-Type"] = "application/json"
        params = {k: _param(v) for k, v in self.params.items() if v is not None}
        return headers, params, content


def _param(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def path(template: str, *parts: str) -> str:
    return template.format(*(quote(part, safe="") for part in parts))


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def decode(call: Call[T], response: httpx.Response) -> T:
    """The answer as `call.answer`, or the typed ProblemError for an error status."""
    if response.status_code >= 400:
        raise problem_error(
            response.status_code,
            response.content,
            request_id=response.headers.get("x-request-id"),
            retry_after=retry_after(response),
        )
    if call.answer is None:
        return None  # type: ignore[return-value]
    decoder = _decoders.get(call.answer)
    if decoder is None:
        decoder = _decoders[call.answer] = msgspec.json.Decoder(call.answer)
    try:
        return decoder.decode(response.content)  # type: ignore[no-any-return]
    except msgspec.DecodeError as exc:
        request_id = response.headers.get("x-request-id")
        raise GatewayError(f"unreadable {response.status_code} answer (request {request_id}): {exc}") from exc
