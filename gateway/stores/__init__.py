"""Stores: the Store protocol, the in-memory store (embedded default) and the Redis store."""

from gateway.stores.base import (
    Backlog,
    Begun,
    DuplicateClientReference,
    IdempotencyWrite,
    RoutingChanged,
    Store,
    StoreUnavailable,
)
from gateway.stores.memory import MemoryStore
from gateway.stores.records import (
    ApiKeyRecord,
    AuditEntry,
    ClaimRecord,
    IdempotencyRecord,
    OperationRecord,
    OperationStep,
    OutboxEntry,
    RoutingVersion,
    StoredResponse,
    new_id,
    utcnow,
)

__all__ = [
    "ApiKeyRecord",
    "AuditEntry",
    "Backlog",
    "Begun",
    "ClaimRecord",
    "DuplicateClientReference",
    "IdempotencyRecord",
    "IdempotencyWrite",
    "MemoryStore",
    "OperationRecord",
    "OperationStep",
    "OutboxEntry",
    "RoutingChanged",
    "RoutingVersion",
    "Store",
    "StoreUnavailable",
    "StoredResponse",
    "create_store",
    "new_id",
    "utcnow",
]


def create_store(
    url: str, prefix: str = "cg", *, events_max: int = 100_000, audit_max: int = 100_000
) -> Store:
    """The store for `url`; `events_max` (per tenant) and `audit_max` cap the two feeds."""
    if url.startswith("memory://"):
        return MemoryStore(events_max=events_max, audit_max=audit_max)
    from gateway.stores.redis import RedisStore

    return RedisStore(url, prefix, events_max=events_max, audit_max=audit_max)
