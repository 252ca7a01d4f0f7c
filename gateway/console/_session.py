"""The console's session: a signed cookie naming an admin key, and the CSRF token bound to it.

- The cookie holds `(key id, nonce, expiry)` signed with HMAC-SHA256 under a secret derived from
  the store's cursor key (created once, shared by every replica), so any replica can check it
  and nothing about a session is kept server-side. Never the API key itself, nor its digest.
- Every request re-reads the key by id: a key revoked through the admin API, or one that lost
  its `admin` scope, ends its sessions at once. The lifetime is bounded (`SESSION_SECONDS`).
- CSRF: each form carries `HMAC(secret, "csrf" | nonce)`; a POST without it, or with another
  session's, is refused (403). The login form, before any session exists, is bound the same way
  to a short-lived random cookie. The cookies are HttpOnly and SameSite=Strict on top of that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import msgspec

__all__ = [
    "LOGIN_COOKIE",
    "LOGIN_SECONDS",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Session",
    "csrf_token",
    "login_token",
    "new_session",
    "open_session",
    "seal_session",
    "session_secret",
    "tokens_match",
]

SESSION_COOKIE = "cg_console"
LOGIN_COOKIE = "cg_console_login"
#: A session ends this long after login, whatever happens meanwhile (log in again).
SESSION_SECONDS = 8 * 3600
#: How long a login form stays usable.
LOGIN_SECONDS = 15 * 60


class Session(msgspec.Struct, array_like=True, frozen=True):
    key_id: str
    nonce: str
    expires: int


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Session).decode


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_secret(cursor_key: bytes) -> bytes:
    """The console's own key, derived from the store's shared secret (domain-separated)."""
    return hmac.new(cursor_key, b"collection-gateway console session v1", hashlib.sha256).digest()


def new_session(key_id: str, now: float | None = None) -> Session:
    now = time.time() if now is None else now
    return Session(key_id=key_id, nonce=secrets.token_urlsafe(16), expires=int(now) + SESSION_SECONDS)


def _sign(secret: bytes, label: bytes, body: bytes) -> str:
    return _b64(hmac.new(secret, label + b"\0" + body, hashlib.sha256).digest())


def seal_session(session: Session, secret: bytes) -> str:
    body = _encode(session)
    return f"{_b64(body)}.{_sign(secret, b'session', body)}"


def open_session(value: str | None, secret: bytes, now: float | None = None) -> Session | None:
    """The session in a cookie, or None when it is missing, forged, malformed or expired."""
    if not value or "." not in value:
        return None
    body_text, _, signature = value.partition(".")
    try:
        body = _unb64(body_text)
    except ValueError:
        return None
    if not hmac.compare_digest(signature.encode(), _sign(secret, b"session", body).encode()):
        return None
    try:
        session = _decode(body)
    except msgspec.MsgspecError:
        return None
    if session.expires <= (time.time() if now is None else now):
        return None
    return session


def csrf_token(session: Session, secret: bytes) -> str:
    return _sign(secret, b"csrf", session.nonce.encode())


def login_token(nonce: str, secret: bytes) -> str:
    return _sign(secret, b"login", nonce.encode())


def tokens_match(sent: str | None, expected: str) -> bool:
    # bytes: compare_digest refuses str with non-ASCII characters (a forged form value may have some)
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())
