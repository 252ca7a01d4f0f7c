"""Stores: the Store protocol, the in-memory store (embedded default) and the Redis store."""

from gateway.stores.base import Begun, DuplicateClientReference, IdempotencyWrite, Store, StoreUnavailable
from gateway.stores.memory import MemoryStore
from gateway.stores.records import (
    ApiKeyRecord,
    AuditEntry,
    ClaimRecord,
    IdempotencyRecord,
    OperationRecord,
    OutboxEntry,
    RoutingVersion,
    StoredResponse,
    new_id,
    utcnow,
)

__all__ = [
    "ApiKeyRecord",
    "AuditEntry",
    "Begun",
    "ClaimRecord",
    "DuplicateClientReference",
    "IdempotencyRecord",
    "IdempotencyWrite",
    "MemoryStore",
    "OperationRecord",
    "OutboxEntry",
    "RoutingVersion",
    "Store",
    "StoreUnavailable",
    "StoredResponse",
    "create_store",
    "new_id",
    "utcnow",
]


def create_store(url: str, prefix: str = "cg") -> Store:
    if url.startswith("memory://"):
        return MemoryStore()
    from gateway.stores.redis import RedisStore

    return RedisStore(url, prefix)
