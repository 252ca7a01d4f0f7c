"""Pages and opaque, tamper-proof cursors.

A cursor carries the position of the next page (an adapter's own position: a page number, an
agency cursor, an offset) bound to the list it belongs to (tenant, resource, filters), signed
with the gateway's secret. A cursor edited by hand, made by someone else, or replayed on another
list fails verification → 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Generic, TypeVar

import msgspec

from canonical.problems import BadRequest

__all__ = ["Page", "open_cursor", "seal_cursor"]

T = TypeVar("T")

_SIG_BYTES = 16


class Page(msgspec.Struct, Generic[T], kw_only=True):
    data: list[T]
    has_more: bool
    next_cursor: str | None = None


def seal_cursor(position: str, scope: str, key: bytes) -> str:
    """Wrap an adapter's or store's position into an opaque cursor for one list (`scope`)."""
    body = position.encode()
    mac = hmac.new(key, scope.encode() + b"\0" + body, hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(mac + body).rstrip(b"=").decode()


def open_cursor(cursor: str, scope: str, key: bytes) -> str:
    """The position inside a cursor sealed for `scope`; BadRequest(invalid_cursor) otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mac, body = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
        expected = hmac.new(key, scope.encode() + b"\0" + body, hashlib.sha256).digest()[:_SIG_BYTES]
        if len(mac) == _SIG_BYTES and hmac.compare_digest(mac, expected):
            return body.decode()
    except (ValueError, UnicodeDecodeError):
        pass
    raise BadRequest("the cursor is not one this gateway issued for this list", code="invalid_cursor")
