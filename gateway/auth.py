"""API keys → principal (tenant, scopes).

Keys are stored as SHA-256 digests only. A presented key is hashed and looked up by digest, and the
stored digest is compared with `hmac.compare_digest`, so nothing about a key leaks through timing
of the comparison. Scopes: `claims:read`, `claims:write`, `admin`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec

from canonical.problems import Forbidden, NotFound, Unauthorized
from gateway.stores import ApiKeyRecord, Store

__all__ = ["Principal", "authenticate", "generate_key", "hash_key", "require_admin", "require_tenant"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    name: str
    tenant: str | None
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key(prefix: str = "cgk") -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


async def authenticate(store: Store, authorization: str | None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <api key>")
    digest = hash_key(token.strip())
    record: ApiKeyRecord | None = await store.find_api_key(digest)
    if record is None or record.revoked_at is not None or not hmac.compare_digest(record.key_sha256, digest):
        raise Unauthorized("the API key is not valid")
    return Principal(
        key_id=record.id, name=record.name, tenant=record.tenant, scopes=frozenset(record.scopes)
    )


def require_tenant(principal: Principal, tenant: str, scope: str) -> None:
    """A tenant resource: another tenant's → 404 (never reveal it exists); admin keys → 403."""
    if principal.tenant is None:
        raise Forbidden("admin keys manage configuration only; tenant resources need a tenant key")
    if principal.tenant != tenant:
        raise NotFound(f"no tenant {tenant!r}")
    if scope not in principal.scopes:
        raise Forbidden(f"this key lacks the {scope} scope")


def require_admin(principal: Principal) -> None:
    if "admin" not in principal.scopes:
        raise Forbidden("this needs the admin scope")
