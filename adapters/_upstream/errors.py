"""The one table from an agency's failure to the error tree of `canonical.problems`.

    agency answer                          read                    write
    -------------------------------------  ----------------------  ---------------------------------
    400 404 409 422, any other 4xx         AgencyRejected          AgencyRejected (final; its message)
    401 403 (401: after one fresh token)   AgencyAuthFailed        AgencyAuthFailed (final)
    408 (it gave up waiting for us)        AgencyUnavailable  ↻    AgencyUnavailable (not processed)
    429                                    AgencyRateLimited  ↻    AgencyRateLimited (not processed)
    5xx, any other non-2xx                 AgencyUnavailable  ↻    OutcomeUnknown (may be processed)
    no connection / no pool slot           AgencyUnavailable  ↻    AgencyUnavailable (never sent)
    timeout or reset after sending         AgencyUnavailable  ↻    OutcomeUnknown (may be processed)

↻ = a read retries it here (backoff + jitter, `Retry-After` honoured) within its attempts and
deadline; a write is never resent here: the gateway's worker retries AgencyUnavailable and
reconciles OutcomeUnknown first (look the write up by its idempotency key, architecture.md
"Delivery guarantees"). The agency's message and request id ride along on every error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from adapters._upstream.ratelimit import parse_retry_after
from adapters._upstream.transport import may_have_been_sent
from canonical.problems import (
    AgencyAuthFailed,
    AgencyError,
    AgencyRateLimited,
    AgencyRejected,
    AgencyUnavailable,
    OutcomeUnknown,
)

__all__ = ["error_for_exception", "error_for_status"]

Row = tuple[type[AgencyError], type[AgencyError]]  # (read, write)

_UNAVAILABLE: Row = (AgencyUnavailable, OutcomeUnknown)
_REJECTED: Row = (AgencyRejected, AgencyRejected)

#: The statuses with a meaning of their own; other 4xx are `_REJECTED`, everything else `_UNAVAILABLE`.
BY_STATUS: Mapping[int, Row] = {
    400: _REJECTED,
    401: (AgencyAuthFailed, AgencyAuthFailed),
    403: (AgencyAuthFailed, AgencyAuthFailed),
    404: _REJECTED,
    408: (AgencyUnavailable, AgencyUnavailable),
    409: _REJECTED,
    422: _REJECTED,
    429: (AgencyRateLimited, AgencyRateLimited),
}


def row_for_status(status: int) -> Row:
    row = BY_STATUS.get(status)
    if row is not None:
        return row
    return _REJECTED if 400 <= status < 500 else _UNAVAILABLE


def error_for_status(
    agency: str, status: int, content: bytes, headers: Mapping[str, str], *, write: bool
) -> AgencyError:
    """The error for an agency answer that is neither 2xx nor allowed by the caller."""
    kind = row_for_status(status)[1 if write else 0]
    request_id = headers.get("x-request-id") or headers.get("x-correlation-id")
    message = agency_message(content)
    if kind is AgencyRejected:
        return AgencyRejected(message or f"HTTP {status}", agency=agency, agency_request_id=request_id)
    detail = f"{agency}: HTTP {status}" + (f": {message}" if message else "")
    if issubclass(kind, AgencyUnavailable):  # with Retry-After when the agency gave one
        return kind(
            detail, agency=agency, agency_request_id=request_id, retry_after=parse_retry_after(headers)
        )
    return kind(detail, agency=agency, agency_request_id=request_id)


def error_for_exception(agency: str, exc: BaseException, *, write: bool) -> AgencyUnavailable:
    """The error for a call that got no answer: timeout, refused or reset connection, bad stream."""
    what = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
    if write and may_have_been_sent(exc):
        return OutcomeUnknown(f"{agency}: no answer to a write ({what})", agency=agency)
    return AgencyUnavailable(f"{agency}: no answer ({what})", agency=agency)


class _Message(msgspec.Struct):
    message: str | None = None
    detail: str | None = None
    title: str | None = None
    error_description: str | None = None
    error: Any = None
    errors: Any = None


def agency_message(content: bytes) -> str | None:
    """The agency's own words: Intrum answers `{"message": ...}`; others use problem+json or OAuth2 fields."""
    if not content:
        return None
    try:
        m = msgspec.json.decode(content, type=_Message)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = content.decode(errors="replace").strip()
        return text[:500] or None
    for value in (m.message, m.detail, m.error_description, m.title, m.error, m.errors):
        if value:
            return (value if isinstance(value, str) else msgspec.json.encode(value).decode())[:500]
    return None
