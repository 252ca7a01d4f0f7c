"""What webhook delivery keeps: endpoints, a delivery cursor per endpoint, and the attempts.

A port of its own beside the Store (the same backend: the embedded store's memory, or the same
Redis client and key prefix), so that the delivery state stays in one place:

- **Endpoints** per tenant: url, event-type filter, description, the signing secrets *sealed*
  (gateway.webhooks.signing: AES-GCM; the store never holds a secret in clear), enabled/disabled.
- **A cursor per endpoint** over its tenant's event feed (`Store.list_events`, oldest first):
  the feed position of a page (`after`) and how many of that page's events are done (`offset`),
  plus the retry state of the event at the head. Events are read from the feed when they are
  delivered, never copied: an event erased or scrubbed in the feed is delivered as it is then.
- **Attempts**: one record per HTTP attempt, newest first, at most `attempts_kept` per endpoint
  and none older than `attempts_max_age_days` (docs/operations.md).
- **Leases**: one worker delivers an endpoint at a time. Progress is saved only while the lease is
  held (checked in the same atomic step), so a worker that lost its lease cannot move a cursor back.

Redis layout under `<prefix>:wh:` — ep:<tenant> (hash id → endpoint), state:<id>, att:<id>
(stream of attempts, trimmed by count and age on each append), redo:<id> (list of redeliveries),
lease:<id>, key (the fallback secret key).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import msgspec
from redis.exceptions import ResponseError

from gateway.stores.base import Store
from gateway.stores.memory import MemoryStore
from gateway.stores.redis import RedisStore, _guard

__all__ = [
    "DeliveryAttempt",
    "DeliveryState",
    "MemoryWebhookStore",
    "Redelivery",
    "RedisWebhookStore",
    "SealedSecret",
    "WebhookEndpoint",
    "WebhookStore",
    "webhook_store_for",
]

EndpointStatus = Literal["enabled", "disabled"]


class SealedSecret(msgspec.Struct, kw_only=True):
    sealed: str
    created_at: dt.datetime
    #: None: the current secret. Set on rotation: the old secret signs beside the new one until then.
    expires_at: dt.datetime | None = None


class WebhookEndpoint(msgspec.Struct, kw_only=True):
    id: str
    tenant: str
    url: str
    #: None: every event type.
    event_types: list[str] | None = None
    description: str = ""
    #: Newest first; expired ones are dropped on the next change.
    secrets: list[SealedSecret] = []
    status: EndpointStatus = "enabled"
    disabled_reason: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


class DeliveryState(msgspec.Struct, kw_only=True):
    """Where an endpoint is in its tenant's feed, and how the event at the head is faring."""

    #: Feed position of the current page (None: the feed's start) and the events of it done.
    after: str | None = None
    offset: int = 0
    #: The id of the last event done (delivered or filtered out): if the feed was trimmed under
    #: the cursor, the page is realigned on it (see gateway.webhooks.delivery).
    last_event_id: str | None = None
    #: Attempts made on the head event, and when the next is due (epoch seconds).
    attempt: int = 0
    next_attempt_at: float | None = None
    #: Epoch seconds of the first failure since the endpoint's last success.
    failing_since: float | None = None


class DeliveryAttempt(msgspec.Struct, kw_only=True):
    id: str
    endpoint_id: str
    event_id: str
    attempt: int
    status_code: int | None = None
    duration_ms: int
    error: str | None = None
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None = None
    redelivery: bool = False
    #: Where the event sits in the feed (for a redelivery): page position and index in that page.
    feed_after: str | None = None
    feed_offset: int = 0


class Redelivery(msgspec.Struct, kw_only=True):
    attempt_id: str
    event_id: str
    feed_after: str | None = None
    feed_offset: int = 0


class WebhookStore(Protocol):
    async def secret_key(self) -> bytes:
        """The fallback key for sealing secrets when none is configured (made once, shared)."""
        ...

    # endpoints
    async def put_endpoint(self, endpoint: WebhookEndpoint) -> None: ...

    async def get_endpoint(self, tenant: str, endpoint_id: str) -> WebhookEndpoint | None: ...

    async def list_endpoints(self, tenant: str) -> list[WebhookEndpoint]:
        """Every endpoint of the tenant, oldest first (a tenant has a handful)."""
        ...

    async def delete_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        """Remove the endpoint with its cursor, attempts and pending redeliveries."""
        ...

    # delivery
    async def get_state(self, endpoint_id: str) -> DeliveryState | None: ...

    async def lease(self, endpoint_id: str, owner: str, seconds: float) -> bool:
        """Take or renew the endpoint for `owner` unless another owner holds it."""
        ...

    async def release(self, endpoint_id: str, owner: str) -> None: ...

    async def save_progress(
        self,
        endpoint_id: str,
        owner: str,
        state: DeliveryState | None,
        attempts: Sequence[DeliveryAttempt] = (),
        *,
        redelivered: bool = False,
    ) -> bool:
        """Store the cursor and/or attempts (and drop the first redelivery) atomically, iff
        `owner` still holds the lease. False: the lease is lost and nothing was stored."""
        ...

    async def reset_state(self, endpoint_id: str, state: DeliveryState) -> None:
        """Set the cursor regardless of leases (admin re-enable clears the failure streak)."""
        ...

    async def list_attempts(
        self, endpoint_id: str, after: str | None, limit: int
    ) -> tuple[list[DeliveryAttempt], str | None]:
        """Newest first; the position is for the next page (None: no more)."""
        ...

    async def get_attempt(self, endpoint_id: str, attempt_id: str) -> DeliveryAttempt | None: ...

    async def push_redelivery(self, endpoint_id: str, redelivery: Redelivery) -> None: ...

    async def next_redelivery(self, endpoint_id: str) -> Redelivery | None: ...


class _Bounds(msgspec.Struct, kw_only=True):
    kept: int
    max_age_seconds: float


_DEFAULT_BOUNDS = _Bounds(kept=1000, max_age_seconds=30 * 86400.0)


class MemoryWebhookStore:
    def __init__(self, bounds: _Bounds = _DEFAULT_BOUNDS) -> None:
        self.bounds = bounds
        self._key = os.urandom(32)
        self._endpoints: dict[str, dict[str, bytes]] = {}
        self._state: dict[str, bytes] = {}
        self._attempts: dict[str, deque[tuple[str, float, bytes]]] = {}
        self._redo: dict[str, deque[Redelivery]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._seq = 0

    async def secret_key(self) -> bytes:
        return self._key

    async def put_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._endpoints.setdefault(endpoint.tenant, {})[endpoint.id] = _enc.encode(endpoint)

    async def get_endpoint(self, tenant: str, endpoint_id: str) -> WebhookEndpoint | None:
        raw = self._endpoints.get(tenant, {}).get(endpoint_id)
        return None if raw is None else _endpoint_dec.decode(raw)

    async def list_endpoints(self, tenant: str) -> list[WebhookEndpoint]:
        endpoints = self._endpoints.get(tenant, {})
        return [_endpoint_dec.decode(endpoints[key]) for key in sorted(endpoints)]

    async def delete_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        found = self._endpoints.get(tenant, {}).pop(endpoint_id, None) is not None
        for table in (self._state, self._attempts, self._redo, self._leases):
            table.pop(endpoint_id, None)
        return found

    async def get_state(self, endpoint_id: str) -> DeliveryState | None:
        raw = self._state.get(endpoint_id)
        return None if raw is None else _state_dec.decode(raw)

    async def lease(self, endpoint_id: str, owner: str, seconds: float) -> bool:
        now = time.monotonic()
        holder = self._leases.get(endpoint_id)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._leases[endpoint_id] = (owner, now + seconds)
        return True

    async def release(self, endpoint_id: str, owner: str) -> None:
        holder = self._leases.get(endpoint_id)
        if holder is not None and holder[0] == owner:
            del self._leases[endpoint_id]

    def _holds(self, endpoint_id: str, owner: str) -> bool:
        holder = self._leases.get(endpoint_id)
        return holder is not None and holder[0] == owner and holder[1] > time.monotonic()

    async def save_progress(
        self,
        endpoint_id: str,
        owner: str,
        state: DeliveryState | None,
        attempts: Sequence[DeliveryAttempt] = (),
        *,
        redelivered: bool = False,
    ) -> bool:
        if not self._holds(endpoint_id, owner):
            return False
        if state is not None:
            self._state[endpoint_id] = _enc.encode(state)
        for attempt in attempts:
            self._append_attempt(endpoint_id, attempt)
        if redelivered and self._redo.get(endpoint_id):
            self._redo[endpoint_id].popleft()
        return True

    def _append_attempt(self, endpoint_id: str, attempt: DeliveryAttempt) -> None:
        self._seq += 1
        now = time.time()
        attempts = self._attempts.setdefault(endpoint_id, deque())
        attempts.append((f"{self._seq:020d}", now, _enc.encode(attempt)))
        while len(attempts) > self.bounds.kept or (
            attempts and attempts[0][1] < now - self.bounds.max_age_seconds
        ):
            attempts.popleft()

    async def reset_state(self, endpoint_id: str, state: DeliveryState) -> None:
        self._state[endpoint_id] = _enc.encode(state)

    async def list_attempts(
        self, endpoint_id: str, after: str | None, limit: int
    ) -> tuple[list[DeliveryAttempt], str | None]:
        newest_first = [
            row for row in reversed(self._attempts.get(endpoint_id, ())) if after is None or row[0] < after
        ]
        page = newest_first[:limit]
        more = len(newest_first) > limit
        return [_attempt_dec.decode(raw) for _, _, raw in page], (page[-1][0] if more else None)

    async def get_attempt(self, endpoint_id: str, attempt_id: str) -> DeliveryAttempt | None:
        for _, _, raw in self._attempts.get(endpoint_id, ()):
            attempt = _attempt_dec.decode(raw)
            if attempt.id == attempt_id:
                return attempt
        return None

    async def push_redelivery(self, endpoint_id: str, redelivery: Redelivery) -> None:
        self._redo.setdefault(endpoint_id, deque()).append(redelivery)

    async def next_redelivery(self, endpoint_id: str) -> Redelivery | None:
        pending = self._redo.get(endpoint_id)
        return pending[0] if pending else None


_enc = msgspec.json.Encoder()
_endpoint_dec = msgspec.json.Decoder(WebhookEndpoint)
_state_dec = msgspec.json.Decoder(DeliveryState)
_attempt_dec = msgspec.json.Decoder(DeliveryAttempt)
_redo_dec = msgspec.json.Decoder(Redelivery)

_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

_SAVE_PROGRESS = """
-- KEYS: lease, state, attempts, redo
-- ARGV: owner, state_json, kept, min_id, pop_redelivery, attempt_json...
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
if #ARGV > 5 then
  for i = 6, #ARGV do redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[3], '*', 'a', ARGV[i]) end
  redis.call('XTRIM', KEYS[3], 'MINID', ARGV[4])
end
if ARGV[5] == '1' then redis.call('LPOP', KEYS[4]) end
return 1
"""


class RedisWebhookStore:
    def __init__(self, store: RedisStore, bounds: _Bounds = _DEFAULT_BOUNDS) -> None:
        self.redis: Any = store.redis
        self.prefix = f"{store.prefix}:wh"
        self.bounds = bounds
        self._lease = self.redis.register_script(_LEASE)
        self._release = self.redis.register_script(_RELEASE)
        self._save = self.redis.register_script(_SAVE_PROGRESS)

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @_guard
    async def secret_key(self) -> bytes:
        key = self._k("key")
        await self.redis.set(key, os.urandom(32), nx=True)
        return bytes(await self.redis.get(key))

    @_guard
    async def put_endpoint(self, endpoint: WebhookEndpoint) -> None:
        await self.redis.hset(self._k("ep", endpoint.tenant), endpoint.id, _enc.encode(endpoint))

    @_guard
    async def get_endpoint(self, tenant: str, endpoint_id: str) -> WebhookEndpoint | None:
        raw = await self.redis.hget(self._k("ep", tenant), endpoint_id)
        return None if raw is None else _endpoint_dec.decode(raw)

    @_guard
    async def list_endpoints(self, tenant: str) -> list[WebhookEndpoint]:
        raw = await self.redis.hgetall(self._k("ep", tenant))
        return [_endpoint_dec.decode(raw[key]) for key in sorted(raw)]

    @_guard
    async def delete_endpoint(self, tenant: str, endpoint_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k("ep", tenant), endpoint_id)
            pipe.delete(*(self._k(kind, endpoint_id) for kind in ("state", "att", "redo", "lease")))
            removed, _ = await pipe.execute()
        return bool(removed)

    @_guard
    async def get_state(self, endpoint_id: str) -> DeliveryState | None:
        raw = await self.redis.get(self._k("state", endpoint_id))
        return None if raw is None else _state_dec.decode(raw)

    @_guard
    async def lease(self, endpoint_id: str, owner: str, seconds: float) -> bool:
        taken = await self._lease(
            keys=[self._k("lease", endpoint_id)], args=[owner, max(1, int(seconds * 1000))]
        )
        return bool(taken)

    @_guard
    async def release(self, endpoint_id: str, owner: str) -> None:
        await self._release(keys=[self._k("lease", endpoint_id)], args=[owner])

    @_guard
    async def save_progress(
        self,
        endpoint_id: str,
        owner: str,
        state: DeliveryState | None,
        attempts: Sequence[DeliveryAttempt] = (),
        *,
        redelivered: bool = False,
    ) -> bool:
        min_ms = int((time.time() - self.bounds.max_age_seconds) * 1000)
        saved = await self._save(
            keys=[self._k(kind, endpoint_id) for kind in ("lease", "state", "att", "redo")],
            args=[
                owner,
                _enc.encode(state) if state is not None else b"",
                self.bounds.kept,
                f"{max(0, min_ms)}-0",
                "1" if redelivered else "0",
                *(_enc.encode(attempt) for attempt in attempts),
            ],
        )
        return bool(saved)

    @_guard
    async def reset_state(self, endpoint_id: str, state: DeliveryState) -> None:
        await self.redis.set(self._k("state", endpoint_id), _enc.encode(state))

    @_guard
    async def list_attempts(
        self, endpoint_id: str, after: str | None, limit: int
    ) -> tuple[list[DeliveryAttempt], str | None]:
        top = "+" if after is None else f"({after}"
        try:
            rows = await self.redis.xrevrange(self._k("att", endpoint_id), max=top, min="-", count=limit + 1)
        except ResponseError:  # a position that is not a stream id
            return [], None
        page = [_attempt_dec.decode(fields[b"a"]) for _, fields in rows[:limit]]
        return page, (rows[limit - 1][0].decode() if len(rows) > limit else None)

    @_guard
    async def get_attempt(self, endpoint_id: str, attempt_id: str) -> DeliveryAttempt | None:
        rows = await self.redis.xrevrange(self._k("att", endpoint_id), max="+", min="-")
        for _, fields in rows:
            attempt = _attempt_dec.decode(fields[b"a"])
            if attempt.id == attempt_id:
                return attempt
        return None

    @_guard
    async def push_redelivery(self, endpoint_id: str, redelivery: Redelivery) -> None:
        await self.redis.rpush(self._k("redo", endpoint_id), _enc.encode(redelivery))

    @_guard
    async def next_redelivery(self, endpoint_id: str) -> Redelivery | None:
        raw = await self.redis.lindex(self._k("redo", endpoint_id), 0)
        return None if raw is None else _redo_dec.decode(raw)


_MEMORY: weakref.WeakKeyDictionary[MemoryStore, MemoryWebhookStore] = weakref.WeakKeyDictionary()


def webhook_store_for(store: Store, *, kept: int = 1000, max_age_days: float = 30.0) -> WebhookStore:
    """The webhook store on the same backend as `store` (one per embedded store: shared state)."""
    bounds = _Bounds(kept=kept, max_age_seconds=max_age_days * 86400.0)
    if isinstance(store, MemoryStore):
        found = _MEMORY.get(store)
        if found is None:
            found = _MEMORY[store] = MemoryWebhookStore(bounds)
        return found
    if isinstance(store, RedisStore):
        return RedisWebhookStore(store, bounds)
    raise TypeError(f"no webhook store for {type(store).__name__}")
