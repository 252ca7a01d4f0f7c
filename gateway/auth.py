"""API keys → principal (tenant, scopes).

Keys are stored as SHA-256 digests only. A presented key is hashed and looked up by digest, and the
stored digest is compared with `hmac.compare_digest`, so nothing about a key leaks through timing
of the comparison. Scopes: `claims:read`, `claims:write`, `admin`.

Every refused key use (401, 403) lands in the audit feed (`audit_refusal`, an after-exception
hook): who (the key's id and name when the key is known, e.g. revoked or lacking a scope), what
(method, path) and why — never the presented key. Anyone can cause a refusal, so what is recorded
is bounded: at most `audit_refusals_per_minute` entries a minute per process (the next recorded
entry counts the ones left out as `suppressed`), and the path and reason are truncated.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Any

import msgspec

from canonical.problems import Forbidden, NotFound, Unauthorized
from gateway.stores import ApiKeyRecord, AuditEntry, Store, new_id, utcnow

__all__ = [
    "KeyCache",
    "Principal",
    "RefusalSampler",
    "audit_refusal",
    "authenticate",
    "generate_key",
    "hash_key",
    "require_admin",
    "require_tenant",
]

log = logging.getLogger(__name__)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    name: str
    tenant: str | None
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key(prefix: str = "cgk") -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


class KeyCache:
    """API keys verified from this process's memory (issue 18: no store round trip per request).

    Every key change in the store bumps its key version; the version is read on the request path
    at most every `check_seconds` (0.5 s), and a change empties the cache. So a revoked or removed
    key is refused by every process within `check_seconds` of its revocation, never later; a
    process that cannot read the version does not answer from its cache. Unknown keys are cached
    too (a flood of made-up keys costs one lookup each); at most `size` entries.
    """

    def __init__(self, store: Store, check_seconds: float = 0.5, size: int = 10_000) -> None:
        self.store = store
        self.check_seconds = check_seconds
        self.size = size
        self._records: dict[str, ApiKeyRecord | None] = {}
        self._version: int | None = None
        self._checked = -1e9

    async def find(self, digest: str) -> ApiKeyRecord | None:
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            self._checked = now  # one check at a time; the others use what the last one saw
            try:
                version = await self.store.api_keys_version()
            except BaseException:
                self._checked = -1e9
                raise
            if version != self._version:
                self._records.clear()
                self._version = version
        if digest in self._records:
            return self._records[digest]
        record = await self.store.find_api_key(digest)
        if len(self._records) >= self.size:
            self._records.clear()
        self._records[digest] = record
        return record


async def authenticate(store: Store, authorization: str | None, keys: KeyCache | None = None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <api key>")
    digest = hash_key(token.strip())
    record: ApiKeyRecord | None = await (keys.find(digest) if keys else store.find_api_key(digest))
    if record is None or not hmac.compare_digest(record.key_sha256, digest):
        raise Unauthorized("the API key is not valid")
    if record.revoked_at is not None:
        raise KeyRefused("the API key is not valid", _principal(record))
    return _principal(record)


def _principal(record: ApiKeyRecord) -> Principal:
    return Principal(
        key_id=record.id, name=record.name, tenant=record.tenant, scopes=frozenset(record.scopes)
    )


class KeyRefused(Unauthorized):
    """401 for a known key (revoked): the audit names the key."""

    def __init__(self, detail: str, principal: Principal) -> None:
        super().__init__(detail)
        self.principal = principal


class ScopeRefused(Forbidden):
    """403: the audit names the key that was refused."""

    def __init__(self, detail: str, principal: Principal) -> None:
        super().__init__(detail)
        self.principal = principal


def require_tenant(principal: Principal, tenant: str, scope: str) -> None:
    """A tenant resource: another tenant's → 404 (never reveal it exists); admin keys → 403."""
    if principal.tenant is None:
        raise ScopeRefused(
            "admin keys manage configuration only; tenant resources need a tenant key", principal
        )
    if principal.tenant != tenant:
        raise NotFound(f"no tenant {tenant!r}")
    if scope not in principal.scopes:
        raise ScopeRefused(f"this key lacks the {scope} scope", principal)


def require_admin(principal: Principal) -> None:
    if "admin" not in principal.scopes:
        raise ScopeRefused("this needs the admin scope", principal)


#: Longest path or reason kept in a refusal's audit entry (a 60 KB path is not a 60 KB entry).
AUDIT_TEXT_MAX = 200


class RefusalSampler:
    """At most `per_minute` refused key uses recorded per minute; the rest are only counted."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window = -1
        self._used = 0
        self._suppressed = 0

    def admit(self, now: float | None = None) -> int | None:
        """None: do not record this one. Otherwise: how many were left out since the last one."""
        window = int((time.time() if now is None else now) // 60)
        if window != self._window:
            self._window, self._used = window, 0
        if self._used >= self.per_minute:
            self._suppressed += 1
            return None
        self._used += 1
        left_out, self._suppressed = self._suppressed, 0
        return left_out


def _cut(text: Any) -> Any:
    if isinstance(text, str) and len(text) > AUDIT_TEXT_MAX:
        return text[:AUDIT_TEXT_MAX] + "…"
    return text


async def audit_refusal(exc: BaseException, scope: Any) -> None:
    """After-exception hook: a refused key use (401/403) becomes an `auth.refused` audit entry."""
    if not isinstance(exc, Unauthorized | Forbidden) or scope.get("type") != "http":
        return
    app = scope.get("litestar_app") or scope.get("app")
    services = getattr(getattr(app, "state", None), "services", None)
    if services is None:
        return
    sampler: RefusalSampler | None = getattr(services, "refusals", None)
    left_out = sampler.admit() if sampler is not None else 0
    if left_out is None:
        return
    principal: Principal | None = getattr(exc, "principal", None)
    detail: dict[str, Any] = {
        "status": exc.status,
        "code": exc.code,
        "method": _cut(scope.get("method")),
        "path": _cut(scope.get("path")),
        "reason": _cut(exc.detail),
        "request_id": (scope.get("state") or {}).get("request_id"),
    }
    if left_out:
        detail["suppressed"] = left_out
    if principal is not None:
        detail["key_id"] = principal.key_id
    try:
        await services.runtime.store.append_audit(
            AuditEntry(
                id=new_id("aud"),
                at=utcnow(),
                actor=principal.name if principal else None,
                action="auth.refused",
                tenant=principal.tenant if principal else None,
                detail=detail,
            )
        )
    except Exception:  # the refusal stands; losing its audit line must not turn it into a 500
        log.warning("could not audit a refused key use", exc_info=True)
