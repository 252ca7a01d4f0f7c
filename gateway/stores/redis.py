"""The production store on Redis (redis-py asyncio).

Layout under `<prefix>:` — claim:<id>, claims:<tenant> (zset by creation), claimref:<tenant>
(hash client_reference → id), op:<id>, ops:<tenant> (zset by creation), opstatus:<tenant>:<status>
(the same, per operation status: moved by the scripts that store an operation), idem:<tenant>:<key>, outbox (stream with
consumer group `workers`), delayed (zset of operation ids by due time), polling:<agency> (set of
submitted operations), events:<tenant> (stream), audit (stream), keys (hash sha256 → key), routing:<tenant> (list of
routing versions, version N at index N-1, appended by a compare-and-set script),
done (a pub/sub channel: the id of each operation that ended), lock:<name>, cursor_key.

`accept` and `save_operation` are single Lua scripts: all or nothing, even if this process dies
halfway. Any connection failure becomes StoreUnavailable (503, nothing stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters._upstream.shared import RedisSharedState
from canonical import FINAL_STATUSES, Event, OperationStatus
from canonical.operations import OPERATION_STATUSES
from gateway.stores.base import (
    Backlog,
    Begun,
    DuplicateClientReference,
    IdempotencyWrite,
    RoutingChanged,
    StoreUnavailable,
)
from gateway.stores.records import (
    PARKED_DAYS,
    PARKED_MAX,
    QUARANTINE_MAX,
    ApiKeyRecord,
    AuditEntry,
    ClaimLedger,
    ClaimRecord,
    FeedState,
    IdempotencyRecord,
    LedgerStep,
    OperationRecord,
    OutboxEntry,
    ParkedRecord,
    QuarantineEntry,
    RoutingVersion,
    utcnow,
)

__all__ = ["RedisStore"]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
_GROUP = "workers"
#: A waiter re-reads its operation this often even without a signal (pub/sub loses messages
#: across a reconnect); well below the client's socket timeout.
_RECHECK_SECONDS = 1.0
_enc = msgspec.json.Encoder()

_ACCEPT = """
-- KEYS: claimref, claim, claims, op, ops, idem, outbox, claims-by-status, claims-by-agency,
--       opstatus:<tenant>:queued, routing:<tenant>
-- ARGV: claim_json, client_reference, claim_id, score, op_json, op_id, idem_json, idem_ttl,
--       once ('1': a key already stored wins, nothing is stored), routing version ('' = unchecked)
if ARGV[9] == '1' then
  local held = redis.call('GET', KEYS[6])
  if held then return {'taken', held} end
end
if ARGV[10] ~= nil and ARGV[10] ~= '' and redis.call('LLEN', KEYS[11]) ~= tonumber(ARGV[10]) then
  return {'routing'}
end
if ARGV[1] ~= '' then
  local existing = redis.call('HGET', KEYS[1], ARGV[2])
  if existing then return {'duplicate', existing} end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('SET', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  redis.call('ZADD', KEYS[8], ARGV[4], ARGV[3])
  redis.call('ZADD', KEYS[9], ARGV[4], ARGV[3])
end
redis.call('SET', KEYS[4], ARGV[5])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[6])
if ARGV[7] ~= '' then redis.call('SET', KEYS[6], ARGV[7], 'EX', ARGV[8]) end
redis.call('XADD', KEYS[7], '*', 'op', ARGV[6])
redis.call('ZADD', KEYS[10], ARGV[4], ARGV[6])
return {'ok'}
"""

#: Writes a claim record and keeps its indexes (by status, agency reference) current. The index
#: keys are derived from the prefix here: the store runs on one Redis node (docs/operations.md).
_PUT_CLAIM = """
local function put_claim(prefix, tenant, claim_id, claim_json, status, score, agency, reference)
  local key = prefix .. ':claim:' .. claim_id
  local by_status = prefix .. ':claims:' .. tenant .. ':status:'
  -- a copy read before an erase keeps the erasure: the debtor as it was (known by its salted
  -- hash and length, never kept itself) becomes the erased one
  local erased = redis.call('HMGET', prefix .. ':erased:' .. claim_id, 'salt', 'sha1', 'len', 'to', 'at')
  if erased[1] then
    local s, e = string.find(claim_json, '"debtor":', 1, true)
    if s then
      local stop = e + tonumber(erased[3])
      if redis.sha1hex(erased[1] .. string.sub(claim_json, e + 1, stop)) == erased[2] then
        claim_json = string.sub(claim_json, 1, e) .. erased[4] .. string.sub(claim_json, stop + 1)
      end
    end
    s, e = string.find(claim_json, '"personal_data_erased_at":null', 1, true)
    if s then claim_json = string.sub(claim_json, 1, s - 1) .. erased[5] .. string.sub(claim_json, e + 1) end
  end
  local old = redis.call('GET', key)
  if old then
    local previous = cjson.decode(old)['status']
    if previous and previous ~= status then redis.call('ZREM', by_status .. previous, claim_id) end
  end
  redis.call('SET', key, claim_json)
  redis.call('ZADD', by_status .. status, score, claim_id)
  if reference ~= '' then
    redis.call('HSET', prefix .. ':agencyref:' .. tenant .. ':' .. agency, reference, claim_id)
  end
end
"""

_SAVE_OPERATION = (
    _PUT_CLAIM
    + """
-- KEYS: op, polling, claim, events, done (channel), outbox,
--       opstatus:<tenant>:queued, …:submitted, …:succeeded, …:failed
-- ARGV: op_json, op_id, submitted(0/1), final(0/1), claim_json, events_max,
--       prefix, tenant, claim_id, status, score, agency, reference,
--       operation status index (1-4: it belongs in KEYS[6+n]), operation score, requeue(0/1),
--       event_json...
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('SADD', KEYS[2], ARGV[2]) else redis.call('SREM', KEYS[2], ARGV[2]) end
if ARGV[5] ~= '' then
  put_claim(ARGV[7], ARGV[8], ARGV[9], ARGV[5], ARGV[10], ARGV[11], ARGV[12], ARGV[13])
end
for i = 7, 10 do
  if i - 6 == tonumber(ARGV[14]) then redis.call('ZADD', KEYS[i], ARGV[15], ARGV[2])
  else redis.call('ZREM', KEYS[i], ARGV[2]) end
end
for i = 17, #ARGV do redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[i]) end
if ARGV[4] == '1' then redis.call('PUBLISH', KEYS[5], ARGV[2]) end
if ARGV[16] == '1' then redis.call('XADD', KEYS[6], '*', 'op', ARGV[2]) end
return 1
"""
)

_PROMOTE = """
-- KEYS: delayed, outbox; ARGV: now
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, op in ipairs(due) do
  redis.call('ZREM', KEYS[1], op)
  redis.call('XADD', KEYS[2], '*', 'op', op)
end
return #due
"""

_RETRY_AT = """
-- KEYS: outbox, delayed; ARGV: entry_id, due, op_id
redis.call('XACK', KEYS[1], 'workers', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


_APPEND_ROUTING = """
-- KEYS: routing, audit; ARGV: expected length (the previous version), version_json, audit_json, audit_max
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'entry', ARGV[3]) end
return 1
"""


#: Moves an operation to its status's index (`opstatus:<tenant>:<status>`, scored by creation as in
#: `ops:<tenant>`), for a script that has the operation's JSON rather than its index keys.
_INDEX_OPERATION = """
local function index_operation(prefix, tenant, op_id, op_json)
  local status = cjson.decode(op_json)['status'] or 'queued'
  local base = prefix .. ':opstatus:' .. tenant .. ':'
  local score = redis.call('ZSCORE', prefix .. ':ops:' .. tenant, op_id)
  for _, each in ipairs({'queued', 'submitted', 'succeeded', 'failed'}) do
    if each == status then
      if score then redis.call('ZADD', base .. each, score, op_id) end
    else
      redis.call('ZREM', base .. each, op_id)
    end
  end
end
"""

_COMMIT = (
    _PUT_CLAIM
    + _INDEX_OPERATION
    + """
-- One ledger step (Store.commit_ledger): all of it or nothing; 0 = a compare-and-set failed.
-- KEYS: events, op, polling, done (channel), feed, quarantine (hash), quarantine order (zset)
-- ARGV[1..13]: n_writes, feed_expected ('-' = no feed part, '' = none stored yet), feed_new,
--   op_json ('' = none), op_id, submitted, final, events_max, n_events, n_quarantine,
--   quarantine_max, prefix, tenant
-- then per write 10: ledger key, expected version, new version, ledger json, claim json ('' =
--   unchanged), claim id, status, score, agency, reference; then events; then per quarantined
--   record 3: id, score, json
-- then parked records: n_park, per record 7: hash key (tenant, agency, reference), id, json,
--   score, feed zset key, agencyref key, reference; n_trim, per feed 3: zset key, cutoff score,
--   max; n_revealed, per reference: hash key, k, then k times: id, feed zset key (unpark).
-- KEYS[8]: parked id -> its hash key (how the bound finds what it drops).
local n, base, width = tonumber(ARGV[1]), 14, 10
for i = 0, n - 1 do
  local o = base + i * width
  if (redis.call('HGET', ARGV[o], 'v') or '0') ~= ARGV[o + 1] then return 0 end
end
local t = base + n * width + tonumber(ARGV[9]) + tonumber(ARGV[10]) * 3
local np = tonumber(ARGV[t])
local tt = t + 1 + np * 7
local nt = tonumber(ARGV[tt])
local rv = tt + 1 + nt * 3
for i = 0, np - 1 do  -- a claim has the reference by now: the caller applies the record to it
  local o = t + 1 + i * 7
  if redis.call('HEXISTS', ARGV[o + 5], ARGV[o + 6]) == 1 then return 0 end
end
local unpark, pos = {}, rv + 1
for i = 0, tonumber(ARGV[rv]) - 1 do  -- parked meanwhile and not applied by this step
  local key, k = ARGV[pos], tonumber(ARGV[pos + 1])
  local applied = {}
  for j = 0, k - 1 do applied[ARGV[pos + 2 + j * 2]] = true end
  for _, id in ipairs(redis.call('HKEYS', key)) do
    if not applied[id] then return 0 end
  end
  unpark[#unpark + 1] = {key, pos + 2, k}
  pos = pos + 2 + k * 2
end
if ARGV[2] ~= '-' then
  if (redis.call('GET', KEYS[5]) or '') ~= ARGV[2] then return 0 end
  redis.call('SET', KEYS[5], ARGV[3])
end
for i = 0, n - 1 do
  local o = base + i * width
  redis.call('HSET', ARGV[o], 'v', ARGV[o + 2], 'doc', ARGV[o + 3])
  if ARGV[o + 4] ~= '' then
    put_claim(ARGV[12], ARGV[13], ARGV[o + 5], ARGV[o + 4], ARGV[o + 6], ARGV[o + 7], ARGV[o + 8], ARGV[o + 9])
  end
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], ARGV[4])
  if ARGV[6] == '1' then redis.call('SADD', KEYS[3], ARGV[5]) else redis.call('SREM', KEYS[3], ARGV[5]) end
  index_operation(ARGV[12], ARGV[13], ARGV[5], ARGV[4])
end
local e = base + n * width
for j = 0, tonumber(ARGV[9]) - 1 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[8], '*', 'event', ARGV[e + j])
end
local q = e + tonumber(ARGV[9])
for j = 0, tonumber(ARGV[10]) - 1 do
  local o = q + j * 3
  if redis.call('HSETNX', KEYS[6], ARGV[o], ARGV[o + 2]) == 1 then
    redis.call('ZADD', KEYS[7], ARGV[o + 1], ARGV[o])
  end
end
local excess = redis.call('ZCARD', KEYS[7]) - tonumber(ARGV[11])
if excess > 0 then
  for _, gone in ipairs(redis.call('ZPOPMIN', KEYS[7], excess)) do redis.call('HDEL', KEYS[6], gone) end
end
for _, u in ipairs(unpark) do
  for j = 0, u[3] - 1 do
    local id = ARGV[u[2] + j * 2]
    redis.call('HDEL', u[1], id)
    redis.call('ZREM', ARGV[u[2] + j * 2 + 1], id)
    redis.call('HDEL', KEYS[8], id)
  end
end
for i = 0, np - 1 do
  local o = t + 1 + i * 7
  if redis.call('HSETNX', ARGV[o], ARGV[o + 1], ARGV[o + 2]) == 1 then
    redis.call('ZADD', ARGV[o + 4], ARGV[o + 3], ARGV[o + 1])
    redis.call('HSET', KEYS[8], ARGV[o + 1], ARGV[o])
  end
end
for i = 0, nt - 1 do  -- the bound: older than the cutoff, then the oldest beyond the count
  local o = tt + 1 + i * 3
  local gone = redis.call('ZRANGEBYSCORE', ARGV[o], '-inf', '(' .. ARGV[o + 1], 'LIMIT', 0, 1000)
  local excess = redis.call('ZCARD', ARGV[o]) - #gone - tonumber(ARGV[o + 2])
  if excess > 0 then
    for _, id in ipairs(redis.call('ZRANGE', ARGV[o], #gone, #gone + excess - 1)) do gone[#gone + 1] = id end
  end
  for _, id in ipairs(gone) do
    local key = redis.call('HGET', KEYS[8], id)
    if key then redis.call('HDEL', key, id) end
    redis.call('HDEL', KEYS[8], id)
    redis.call('ZREM', ARGV[o], id)
  end
end
if ARGV[4] ~= '' and ARGV[7] == '1' then redis.call('PUBLISH', KEYS[4], ARGV[5]) end
return 1
"""
)


def _score(when: Any) -> int:
    return int(when.timestamp() * 1000)


def _guard(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Every Redis failure becomes StoreUnavailable (a 503 problem), never a 500."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable("the store cannot be reached; nothing was stored") from exc

    return guarded


class _EndedSignals:
    """One subscriber per process to the channel on which operations that ended are announced.

    Waiters register an asyncio.Event per operation id; the subscriber sets them. It starts with
    the first waiter and resubscribes after a store outage; waiters never depend on it alone.
    """

    def __init__(self, redis: Any, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, operation_id: str, seconds: float) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="redis-store-ended-signals")
        event = asyncio.Event()
        self._waiters.setdefault(operation_id, set()).add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            waiting = self._waiters.get(operation_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiters[operation_id]

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    delay = 0.1
                    async for message in pubsub.listen():
                        data = message.get("data")
                        operation_id = data.decode() if isinstance(data, bytes) else str(data)
                        for event in self._waiters.get(operation_id, ()):
                            event.set()
            except Exception:  # an outage, or a refusal (ACL): waiters poll meanwhile
                await asyncio.sleep(delay)  # resubscribe with backoff
                delay = min(delay * 2, 2.0)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class RedisStore:
    def __init__(
        self,
        url: str,
        prefix: str = "cg",
        *,
        client: aioredis.Redis | None = None,
        events_max: int = 100_000,
        audit_max: int = 100_000,
    ) -> None:
        #: Stream caps (`XADD … MAXLEN ~`): each tenant's events and the audit keep the newest.
        self.events_max, self.audit_max = events_max, audit_max
        # redis-py's asyncio annotations mix sync/async and bytes/str unions; typed as Any here.
        self.redis: Any = client or aioredis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
        self.prefix = prefix
        self.shared = RedisSharedState(self.redis, f"{prefix}:shared")
        self._accept = self.redis.register_script(_ACCEPT)
        self._save_operation = self.redis.register_script(_SAVE_OPERATION)
        self._promote = self.redis.register_script(_PROMOTE)
        self._retry_at = self.redis.register_script(_RETRY_AT)
        self._append_routing = self.redis.register_script(_APPEND_ROUTING)
        self._commit = self.redis.register_script(_COMMIT)
        self._group_ready = False
        self._ended = _EndedSignals(self.redis, self._k("done"))

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @_guard
    async def ping(self) -> None:
        await self.redis.ping()

    async def aclose(self) -> None:
        await self._ended.aclose()
        await self.redis.aclose()

    @_guard
    async def cursor_key(self) -> bytes:
        key = self._k("cursor_key")
        await self.redis.set(key, os.urandom(32), nx=True)
        value = await self.redis.get(key)
        assert value is not None
        return bytes(value)

    # API keys
    @_guard
    async def put_api_key(self, record: ApiKeyRecord) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("keys"), record.key_sha256, _enc.encode(record))
            pipe.incr(self._k("keys_version"))
            await pipe.execute()

    @_guard
    async def api_keys_version(self) -> int:
        return int(await self.redis.get(self._k("keys_version")) or 0)

    @_guard
    async def find_api_key(self, key_sha256: str) -> ApiKeyRecord | None:
        raw = await self.redis.hget(self._k("keys"), key_sha256)
        return None if raw is None else msgspec.json.decode(raw, type=ApiKeyRecord)

    @_guard
    async def list_api_keys(self) -> list[ApiKeyRecord]:
        raw = await self.redis.hvals(self._k("keys"))
        return sorted((msgspec.json.decode(r, type=ApiKeyRecord) for r in raw), key=lambda k: k.id)

    @_guard
    async def delete_api_key(self, key_sha256: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k("keys"), key_sha256)
            pipe.incr(self._k("keys_version"))
            await pipe.execute()

    # idempotency
    @_guard
    async def idempotency_begin(self, tenant: str, key: str, fingerprint: str, lock_seconds: int) -> Begun:
        name = self._k("idem", tenant, key)
        marker = _enc.encode(IdempotencyRecord(fingerprint=fingerprint, state="in_progress"))
        if await self.redis.set(name, marker, nx=True, ex=lock_seconds):
            return Begun(record=None)
        raw = await self.redis.get(name)
        if raw is None:  # expired between the two calls: take it
            await self.redis.set(name, marker, ex=lock_seconds)
            return Begun(record=None)
        return Begun(record=msgspec.json.decode(raw, type=IdempotencyRecord))

    @_guard
    async def idempotency_finish(self, write: IdempotencyWrite) -> None:
        await self.redis.set(
            self._k("idem", write.tenant, write.key), _enc.encode(write.record()), ex=write.ttl_seconds
        )

    @_guard
    async def idempotency_store_once(self, write: IdempotencyWrite) -> IdempotencyRecord | None:
        # SET NX GET (Redis 7): stores only when the key is free, and answers what was there.
        previous = await self.redis.set(
            self._k("idem", write.tenant, write.key),
            _enc.encode(write.record()),
            ex=write.ttl_seconds,
            nx=True,
            get=True,
        )
        return None if previous is None else msgspec.json.decode(previous, type=IdempotencyRecord)

    @_guard
    async def idempotency_release(self, tenant: str, key: str) -> None:
        await self.redis.delete(self._k("idem", tenant, key))

    # operations and claims
    @_guard
    async def accept(
        self, operation: OperationRecord, claim: ClaimRecord | None, idempotency: IdempotencyWrite | None
    ) -> None:
        await self._accept_step(operation, claim, idempotency, once=False, routing_version=None)

    @_guard
    async def accept_once(
        self,
        operation: OperationRecord,
        claim: ClaimRecord | None,
        idempotency: IdempotencyWrite,
        routing_version: int | None = None,
    ) -> IdempotencyRecord | None:
        return await self._accept_step(
            operation, claim, idempotency, once=True, routing_version=routing_version
        )

    async def _accept_step(
        self,
        operation: OperationRecord,
        claim: ClaimRecord | None,
        idempotency: IdempotencyWrite | None,
        *,
        once: bool,
        routing_version: int | None,
    ) -> IdempotencyRecord | None:
        tenant = operation.tenant
        idem_json = b""
        if idempotency is not None:
            idem_json = _enc.encode(idempotency.record())
        result = await self._accept(
            keys=[
                self._k("claimref", tenant),
                self._k("claim", claim.id if claim else "-"),
                self._k("claims", tenant),
                self._k("op", operation.id),
                self._k("ops", tenant),
                self._k("idem", tenant, idempotency.key if idempotency else "-"),
                self._k("outbox"),
                self._k("claims", tenant, "status", claim.status if claim else "-"),
                self._k("claims", tenant, "agency", claim.agency if claim else "-"),
                self._k("opstatus", tenant, "queued"),
                self._k("routing", tenant),
            ],
            args=[
                _enc.encode(claim) if claim else b"",
                claim.client_reference if claim else "",
                claim.id if claim else "",
                int(operation.created_at.timestamp() * 1000),
                _enc.encode(operation),
                operation.id,
                idem_json,
                idempotency.ttl_seconds if idempotency else 0,
                "1" if once else "",
                "" if routing_version is None else routing_version,
            ],
        )
        if result[0] == b"taken":
            return msgspec.json.decode(result[1], type=IdempotencyRecord)
        if result[0] == b"routing":
            raise RoutingChanged(operation.tenant)
        if result[0] == b"duplicate":
            assert claim is not None
            raise DuplicateClientReference(claim.client_reference, result[1].decode())
        return None

    @_guard
    async def get_claim(self, claim_id: str) -> ClaimRecord | None:
        raw = await self.redis.get(self._k("claim", claim_id))
        return None if raw is None else msgspec.json.decode(raw, type=ClaimRecord)

    @_guard
    async def find_claim(self, tenant: str, client_reference: str) -> ClaimRecord | None:
        claim_id = await self.redis.hget(self._k("claimref", tenant), client_reference)
        return None if claim_id is None else await self.get_claim(claim_id.decode())

    @_guard
    async def list_claims(
        self,
        tenant: str,
        after: str | None,
        limit: int,
        keep: Callable[[ClaimRecord], bool],
        *,
        status: str | None = None,
        agency: str | None = None,
        created_after: dt.datetime | None = None,
    ) -> tuple[list[ClaimRecord], str | None]:
        """Newest first from the narrowest index (status, else agency, else all), stopping at
        `created_after` instead of reading the index to its end."""
        index = self._k("claims", tenant)
        if status is not None:
            index = self._k("claims", tenant, "status", status)
        elif agency is not None:
            index = self._k("claims", tenant, "agency", agency)
        floor = None if created_after is None else _score(created_after)
        # A claim that changed status between two pages has left the status index: the page
        # goes on after its creation time (from the tenant's index of every claim).
        everything = self._k("claims", tenant)
        scores = everything if index != everything else None
        return await self._scan(index, "claim", ClaimRecord, after, limit, keep, floor, scores)

    @_guard
    async def save_claim(self, claim: ClaimRecord, events: Sequence[Event] = ()) -> None:
        old = await self.get_claim(claim.id)
        if old is not None and old.personal_data_erased_at and not claim.personal_data_erased_at:
            # a copy read before an erase: the erasure stands (gateway.services.privacy)
            claim = msgspec.structs.replace(
                claim, debtor=old.debtor, personal_data_erased_at=old.personal_data_erased_at
            )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k("claim", claim.id), _enc.encode(claim))
            if old is not None and old.status != claim.status:
                pipe.zrem(self._k("claims", claim.tenant, "status", old.status), claim.id)
            pipe.zadd(
                self._k("claims", claim.tenant, "status", claim.status), {claim.id: _score(claim.created_at)}
            )
            if claim.agency_reference:
                pipe.hset(self._k("agencyref", claim.tenant, claim.agency), claim.agency_reference, claim.id)
            for event in events:
                pipe.xadd(
                    self._k("events", claim.tenant),
                    {"event": _enc.encode(event)},
                    maxlen=self.events_max,
                    approximate=True,
                )
            await pipe.execute()

    @_guard
    async def get_operation(self, operation_id: str) -> OperationRecord | None:
        raw = await self.redis.get(self._k("op", operation_id))
        return None if raw is None else msgspec.json.decode(raw, type=OperationRecord)

    @_guard
    async def list_operations(
        self,
        tenant: str,
        after: str | None,
        limit: int,
        keep: Callable[[OperationRecord], bool],
        status: OperationStatus | None = None,
    ) -> tuple[list[OperationRecord], str | None]:
        everything = self._k("ops", tenant)
        if status is None:
            return await self._scan(everything, "op", OperationRecord, after, limit, keep)

        def wanted(op: OperationRecord) -> bool:  # the index may lag a concurrent save by a moment
            return op.status == status and keep(op)

        return await self._scan(
            self._k("opstatus", tenant, status),
            "op",
            OperationRecord,
            after,
            limit,
            wanted,
            scores=everything,
        )

    async def _scan(
        self,
        index: str,
        kind: str,
        type_: type[T],
        after: str | None,
        limit: int,
        keep: Callable[[T], bool],
        floor: int | None = None,
        scores: str | None = None,
    ) -> tuple[list[T], str | None]:
        """Newest first over a creation-ordered zset, filtering in chunks until a page is full;
        members scored at or below `floor` (ms) end the scan.

        `scores`: a zset with every id's creation score, for an `after` that has left `index`
        meanwhile (a status index): the page goes on after that id's time."""
        start = 0
        if after is not None:
            rank = await self.redis.zrevrank(index, after)
            if rank is None:
                score = None if scores is None else await self.redis.zscore(scores, after)
                if score is None:
                    return [], None
                # its rank had it stayed: newer scores, then equal scores ordered by id (ZREVRANGE)
                ties = await self.redis.zrangebyscore(index, score, score)
                later = sum(1 for tie in ties if tie.decode() > after)
                rank = int(await self.redis.zcount(index, f"({score}", "+inf")) + later - 1
            start = rank + 1
        found: list[T] = []
        last_id: str | None = None
        chunk = max(limit * 2, 50)
        while True:
            if floor is None:
                ids = await self.redis.zrevrange(index, start, start + chunk - 1)
            else:
                ids = await self.redis.zrevrangebyscore(index, "+inf", f"({floor}", start=start, num=chunk)
            if not ids:
                return found, None
            raws = await self.redis.mget([self._k(kind, i.decode()) for i in ids])
            for raw_id, raw in zip(ids, raws, strict=True):
                if raw is None:
                    continue
                record = msgspec.json.decode(raw, type=type_)
                if keep(record):
                    if len(found) == limit:
                        return found, last_id
                    found.append(record)
                    last_id = raw_id.decode()
            start += chunk

    @_guard
    async def save_operation(
        self,
        operation: OperationRecord,
        claim: ClaimRecord | None = None,
        events: Sequence[Event] = (),
        *,
        requeue: bool = False,
    ) -> None:
        """One script: the operation, its status index, claim, events, done signal (and with
        `requeue`, an outbox entry: an admin's retry)."""
        await self._save_operation(
            keys=[
                self._k("op", operation.id),
                self._k("polling", operation.agency),
                self._k("claim", claim.id if claim else "-"),
                self._k("events", operation.tenant),
                self._k("done"),
                self._k("outbox"),
                *(self._k("opstatus", operation.tenant, status) for status in OPERATION_STATUSES),
            ],
            args=[
                _enc.encode(operation),
                operation.id,
                "1" if operation.status == "submitted" else "0",
                "1" if operation.status in FINAL_STATUSES else "0",
                _enc.encode(claim) if claim else b"",
                self.events_max,
                *self._claim_args(claim),
                OPERATION_STATUSES.index(operation.status) + 1,
                int(operation.created_at.timestamp() * 1000),
                "1" if requeue else "0",
                *(_enc.encode(event) for event in events),
            ],
        )

    async def requeue(
        self, operation: OperationRecord, claim: ClaimRecord | None = None, events: Sequence[Event] = ()
    ) -> None:
        await self.save_operation(operation, claim, events, requeue=True)

    def _claim_args(self, claim: ClaimRecord | None) -> list[str | int]:
        """put_claim's arguments after the JSON: prefix, tenant, id, status, score, agency, reference."""
        if claim is None:
            return [self.prefix, "", "", "", 0, "", ""]
        return [
            self.prefix,
            claim.tenant,
            claim.id,
            claim.status,
            _score(claim.created_at),
            claim.agency,
            claim.agency_reference or "",
        ]

    @_guard
    async def save_erasure(
        self,
        claim: ClaimRecord,
        operations: Sequence[OperationRecord],
        audit: AuditEntry,
        original: ClaimRecord | None = None,
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k("claim", claim.id), _enc.encode(claim))
            if original is not None and original.debtor != claim.debtor:
                # What the claim scripts recognise in a copy read before the erase (msgspec encodes
                # a struct the same way every time): the old debtor's salted SHA-1 and length only.
                before = _enc.encode(original.debtor)
                salt = os.urandom(16).hex()
                pipe.hset(
                    self._k("erased", claim.id),
                    mapping={
                        "salt": salt,
                        "sha1": hashlib.sha1(salt.encode() + before).hexdigest(),
                        "len": len(before),
                        "to": _enc.encode(claim.debtor),
                        "at": b'"personal_data_erased_at":' + _enc.encode(claim.personal_data_erased_at),
                    },
                )
            for operation in operations:
                pipe.set(self._k("op", operation.id), _enc.encode(operation))
            pipe.xadd(
                self._k("audit"), {"entry": _enc.encode(audit)}, maxlen=self.audit_max, approximate=True
            )
            await pipe.execute()
        for operation in operations:
            if operation.idempotency_key is None:
                continue
            name = self._k("idem", operation.tenant, operation.idempotency_key)
            raw = await self.redis.get(name)
            if raw is None:
                continue
            record = msgspec.json.decode(raw, type=IdempotencyRecord)
            response = record.response
            if response is None or not response.headers.get("location", "").endswith("/" + operation.id):
                continue
            response.body = _enc.encode(operation.public())
            await self.redis.set(name, _enc.encode(record), keepttl=True, xx=True)

    @_guard
    async def submitted_operations(self, agency: str) -> list[OperationRecord]:
        ids = await self.redis.smembers(self._k("polling", agency))
        if not ids:
            return []
        raws = await self.redis.mget([self._k("op", i.decode()) for i in sorted(ids)])
        ops = [msgspec.json.decode(raw, type=OperationRecord) for raw in raws if raw is not None]
        return [op for op in ops if op.status == "submitted"]

    async def wait_final(self, operation_id: str, timeout: float) -> OperationRecord | None:
        """The operation once it ended, or as it is when `timeout` runs out.

        No Redis call outlasts the client's socket timeout and no waiter holds a connection: the
        process's one subscriber to the `done` channel wakes the waiter, and a short read every
        `_RECHECK_SECONDS` covers a signal lost to a reconnect. A store failure raises
        StoreUnavailable, which the write service answers with the 202 it already stored.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        operation = await self.get_operation(operation_id)
        while operation is not None and operation.status not in FINAL_STATUSES:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._ended.wait(operation_id, min(remaining, _RECHECK_SECONDS))
            operation = await self.get_operation(operation_id)
        return operation

    # outbox
    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self._k("outbox"), _GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    @_guard
    async def outbox_take(
        self, consumer: str, count: int, block_seconds: float, reclaim_idle_seconds: float
    ) -> list[OutboxEntry]:
        await self._ensure_group()
        stream = self._k("outbox")
        await self.outbox_promote_due(time.time())
        _, claimed, _ = await self.redis.xautoclaim(
            stream,
            _GROUP,
            consumer,
            min_idle_time=int(reclaim_idle_seconds * 1000),
            start_id="0-0",
            count=count,
        )
        entries = [_entry(entry_id, fields) for entry_id, fields in claimed if fields]
        if entries:
            return entries
        block = max(1, int(block_seconds * 1000)) if block_seconds > 0 else None
        answer = await self.redis.xreadgroup(_GROUP, consumer, {stream: ">"}, count=count, block=block)
        return [_entry(entry_id, fields) for _, messages in answer or [] for entry_id, fields in messages]

    @_guard
    async def outbox_touch(self, consumer: str, entries: Sequence[OutboxEntry]) -> None:
        # XCLAIM … JUSTID to itself resets the entries' idle time; ids no longer pending (acked,
        # or re-queued by XACK + XDEL) are ignored by Redis.
        if entries:
            await self.redis.xclaim(
                self._k("outbox"), _GROUP, consumer, 0, [e.entry_id for e in entries], justid=True
            )

    @_guard
    async def outbox_ack(self, entry: OutboxEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self._k("outbox"), _GROUP, entry.entry_id)
            pipe.xdel(self._k("outbox"), entry.entry_id)
            await pipe.execute()

    @_guard
    async def outbox_retry_at(self, entry: OutboxEntry, due: float) -> None:
        await self._retry_at(
            keys=[self._k("outbox"), self._k("delayed")], args=[entry.entry_id, due, entry.operation_id]
        )

    @_guard
    async def outbox_promote_due(self, now: float) -> int:
        return int(await self._promote(keys=[self._k("delayed"), self._k("outbox")], args=[now]))

    @_guard
    async def backlog(self, agencies: Sequence[str]) -> Backlog:
        """XLEN + ZCARD, and the older of the stream's first entry and the first delayed retry."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self._k("outbox"))
            pipe.zcard(self._k("delayed"))
            pipe.xrange(self._k("outbox"), count=1)
            pipe.zrange(self._k("delayed"), 0, 0)
            for agency in agencies:
                pipe.scard(self._k("polling", agency))
            ready, delayed, first, first_delayed, *submitted = await pipe.execute()
        ids = [_entry(entry_id, fields).operation_id for entry_id, fields in first if fields]
        ids += [raw.decode() for raw in first_delayed]
        raws = await self.redis.mget([self._k("op", i) for i in ids]) if ids else []
        created = [msgspec.json.decode(raw, type=OperationRecord).created_at for raw in raws if raw]
        return Backlog(
            outbox=int(ready) + int(delayed),
            oldest_created_at=min(created, default=None),
            submitted={agency: int(n) for agency, n in zip(agencies, submitted, strict=True)},
        )

    # events and audit
    @_guard
    async def list_events(self, tenant: str, after: str | None, limit: int) -> tuple[list[Event], str | None]:
        return await self._feed(self._k("events", tenant), "event", Event, after, limit)

    @_guard
    async def append_events(self, tenant: str, events: Sequence[Event]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for event in events:
                pipe.xadd(
                    self._k("events", tenant),
                    {"event": _enc.encode(event)},
                    maxlen=self.events_max,
                    approximate=True,
                )
            await pipe.execute()

    @_guard
    async def append_audit(self, entry: AuditEntry) -> None:
        await self.redis.xadd(
            self._k("audit"), {"entry": _enc.encode(entry)}, maxlen=self.audit_max, approximate=True
        )

    @_guard
    async def list_audit(
        self, after: str | None, limit: int, *, newest_first: bool = False
    ) -> tuple[list[AuditEntry], str | None]:
        if not newest_first:
            return await self._feed(self._k("audit"), "entry", AuditEntry, after, limit)
        try:
            rows = await self.redis.xrevrange(
                self._k("audit"), max="+" if after is None else f"({after}", min="-", count=limit + 1
            )
        except ResponseError:  # a position that is not a stream id
            return [], None
        items = [msgspec.json.decode(fields[b"entry"], type=AuditEntry) for _, fields in rows[:limit]]
        return items, (rows[limit - 1][0].decode() if len(rows) > limit else None)

    async def _feed(
        self, stream: str, field: str, type_: type[T], after: str | None, limit: int
    ) -> tuple[list[T], str | None]:
        start = "-" if after is None else f"({after}"
        try:
            rows = await self.redis.xrange(stream, min=start, max="+", count=limit + 1)
        except ResponseError:  # a position that is not a stream id
            return [], None
        items = [msgspec.json.decode(fields[field.encode()], type=type_) for _, fields in rows[:limit]]
        more = len(rows) > limit
        return items, (rows[limit - 1][0].decode() if more else None)

    # routing versions
    @_guard
    async def append_routing_version(self, version: RoutingVersion, audit: AuditEntry | None = None) -> bool:
        stored = await self._append_routing(
            keys=[self._k("routing", version.tenant), self._k("audit")],
            args=[
                version.version - 1,
                _enc.encode(version),
                _enc.encode(audit) if audit else b"",
                self.audit_max,
            ],
        )
        return bool(stored)

    @_guard
    async def routing_version(self, tenant: str, version: int | None = None) -> RoutingVersion | None:
        if version is not None and not 1 <= version < 2**62:  # Redis list indexes are 64-bit
            return None
        raw = await self.redis.lindex(self._k("routing", tenant), -1 if version is None else version - 1)
        return None if raw is None else msgspec.json.decode(raw, type=RoutingVersion)

    @_guard
    async def routing_history(
        self, tenant: str, after: str | None, limit: int
    ) -> tuple[list[RoutingVersion], str | None]:
        key = self._k("routing", tenant)
        latest = int(await self.redis.llen(key))
        below = latest + 1
        if after is not None:
            try:
                below = max(1, min(int(after), latest + 1))
            except ValueError:
                below = 1
        if below <= 1:
            return [], None
        raws = await self.redis.lrange(key, max(0, below - 1 - limit), below - 2)
        page = [msgspec.json.decode(raw, type=RoutingVersion) for raw in reversed(raws)]
        last = below - len(page)
        return page, (str(last) if page and last > 1 else None)

    # the claim ledger
    @_guard
    async def get_ledger(self, claim_id: str) -> ClaimLedger | None:
        raw = await self.redis.hget(self._k("ledger", claim_id), "doc")
        return None if raw is None else msgspec.json.decode(raw, type=ClaimLedger)

    @_guard
    async def get_claim_and_ledger(self, claim_id: str) -> tuple[ClaimRecord | None, ClaimLedger | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self._k("claim", claim_id))
            pipe.hget(self._k("ledger", claim_id), "doc")
            raw_claim, raw_ledger = await pipe.execute()
        return (
            None if raw_claim is None else msgspec.json.decode(raw_claim, type=ClaimRecord),
            None if raw_ledger is None else msgspec.json.decode(raw_ledger, type=ClaimLedger),
        )

    @_guard
    async def get_ledgers(self, claim_ids: Sequence[str]) -> list[ClaimLedger | None]:
        if not claim_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for claim_id in claim_ids:
                pipe.hget(self._k("ledger", claim_id), "doc")
            raws = await pipe.execute()
        return [None if raw is None else msgspec.json.decode(raw, type=ClaimLedger) for raw in raws]

    @_guard
    async def find_claim_by_agency_reference(
        self, tenant: str, agency: str, agency_reference: str
    ) -> ClaimRecord | None:
        claim_id = await self.redis.hget(self._k("agencyref", tenant, agency), agency_reference)
        return None if claim_id is None else await self.get_claim(claim_id.decode())

    @_guard
    async def commit_ledger(self, step: LedgerStep) -> bool:
        writes: list[Any] = []
        for write in step.writes:
            ledger, claim = write.ledger, write.claim
            writes += [
                self._k("ledger", ledger.claim_id),
                str(ledger.version - 1),
                str(ledger.version),
                _enc.encode(ledger),
                _enc.encode(claim) if claim is not None else b"",
                *(self._claim_args(claim)[2:] if claim is not None else ["", "", 0, "", ""]),
            ]
        quarantine: list[Any] = []
        for entry in step.quarantine:
            quarantine += [entry.id, _score(entry.at), _enc.encode(entry)]
        parked: list[Any] = [len(step.park)]
        for record in step.park:
            parked += [
                self._parked_key(record.tenant, record.agency, record.agency_reference),
                record.id,
                _enc.encode(record),
                _score(record.at),
                self._k("parked", "feed", record.credential),
                self._k("agencyref", record.tenant, record.agency),
                record.agency_reference,
            ]
        feeds = {record.credential for record in step.park} | ({step.feed[0]} if step.feed else set())
        cutoff = _score(utcnow() - dt.timedelta(days=PARKED_DAYS))
        parked.append(len(feeds))
        for feed in sorted(feeds):
            parked += [self._k("parked", "feed", feed), cutoff, PARKED_MAX]
        parked.append(len(step.revealed))
        for agency, reference in step.revealed:
            applied = [p for p in step.unpark if (p.agency, p.agency_reference) == (agency, reference)]
            parked += [self._parked_key(step.tenant, agency, reference), len(applied)]
            for record in applied:
                parked += [record.id, self._k("parked", "feed", record.credential)]
        operation = step.operation
        feed_key, feed_expected, feed_new = "-", "-", b""
        if step.feed is not None:
            credential, before, after = step.feed
            feed_key = self._k("feed", credential)
            feed_expected = "" if before is None else _enc.encode(before).decode()
            feed_new = _enc.encode(after)
        stored = await self._commit(
            keys=[
                self._k("events", step.tenant),
                self._k("op", operation.id if operation else "-"),
                self._k("polling", operation.agency if operation else "-"),
                self._k("done"),
                feed_key,
                self._k("quarantine"),
                self._k("quarantine", "order"),
                self._k("parked", "where"),
            ],
            args=[
                len(step.writes),
                feed_expected,
                feed_new,
                _enc.encode(operation) if operation else b"",
                operation.id if operation else "",
                "1" if operation and operation.status == "submitted" else "0",
                "1" if operation and operation.status in FINAL_STATUSES else "0",
                self.events_max,
                len(step.events),
                len(step.quarantine),
                QUARANTINE_MAX,
                self.prefix,
                step.tenant,
                *writes,
                *(_enc.encode(event) for event in step.events),
                *quarantine,
                *parked,
            ],
        )
        return bool(stored)

    def _parked_key(self, tenant: str, agency: str, reference: str) -> str:
        return self._k("parked", "ref", tenant, agency, reference)

    @_guard
    async def parked_records(self, tenant: str, agency: str, agency_reference: str) -> list[ParkedRecord]:
        raws = await self.redis.hvals(self._parked_key(tenant, agency, agency_reference))
        found = [msgspec.json.decode(raw, type=ParkedRecord) for raw in raws]
        return sorted(found, key=lambda p: (p.at, p.id))

    @_guard
    async def index_claims(self, tenant: str) -> int:
        marker = self._k("indexed", tenant)
        if await self.redis.exists(marker) or not await self.try_lock(f"index:{tenant}", 600):
            return 0
        everything = self._k("claims", tenant)
        indexed, start, chunk = 0, 0, 500
        while True:
            rows = await self.redis.zrange(everything, start, start + chunk - 1, withscores=True)
            if not rows:
                break
            raws = await self.redis.mget([self._k("claim", member.decode()) for member, _ in rows])
            async with self.redis.pipeline(transaction=False) as pipe:
                for (_, score), raw in zip(rows, raws, strict=True):
                    if raw is None:
                        continue
                    claim = msgspec.json.decode(raw, type=ClaimRecord)
                    # A status that moves meanwhile may leave a stale entry: lists check each claim.
                    pipe.zadd(self._k("claims", tenant, "status", claim.status), {claim.id: score})
                    pipe.zadd(self._k("claims", tenant, "agency", claim.agency), {claim.id: score})
                    if claim.agency_reference:
                        pipe.hset(
                            self._k("agencyref", tenant, claim.agency), claim.agency_reference, claim.id
                        )
                    indexed += 1
                await pipe.execute()
            start += chunk
        await self.redis.set(marker, "1")
        return indexed

    @_guard
    async def erase_quarantined(self, tenant: str, agency: str, agency_reference: str) -> int:
        # At most QUARANTINE_MAX entries, read in slices: an erase is rare, the scan is bounded.
        erased = 0
        async for key, raw in self.redis.hscan_iter(self._k("quarantine"), count=500):
            entry = msgspec.json.decode(raw, type=QuarantineEntry)
            if (entry.tenant, entry.agency, entry.agency_reference) != (tenant, agency, agency_reference):
                continue
            # Only while the entry is still there (the cap may have dropped it meanwhile).
            if entry.raw != "[erased]" and await self.redis.hexists(self._k("quarantine"), key):
                erased_entry = msgspec.structs.replace(entry, raw="[erased]")
                await self.redis.hset(self._k("quarantine"), key, _enc.encode(erased_entry))
            erased += 1
        return erased

    @_guard
    async def get_feed(self, credential: str) -> FeedState | None:
        raw = await self.redis.get(self._k("feed", credential))
        return None if raw is None else msgspec.json.decode(raw, type=FeedState)

    @_guard
    async def list_quarantine(
        self, after: str | None, limit: int
    ) -> tuple[list[QuarantineEntry], str | None]:
        """Newest first; `after` is the id of the last entry of the previous page."""
        order = self._k("quarantine", "order")
        start = 0
        if after is not None:
            rank = await self.redis.zrevrank(order, after)
            if rank is None:
                return [], None
            start = rank + 1
        ids = await self.redis.zrevrange(order, start, start + limit)
        if not ids:
            return [], None
        raws = await self.redis.hmget(self._k("quarantine"), ids[:limit])
        entries = [msgspec.json.decode(raw, type=QuarantineEntry) for raw in raws if raw is not None]
        return entries, (ids[limit - 1].decode() if len(ids) > limit else None)

    @_guard
    async def try_lock(self, name: str, seconds: float) -> bool:
        return bool(await self.redis.set(self._k("lock", name), "1", nx=True, px=max(1, int(seconds * 1000))))


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> OutboxEntry:
    return OutboxEntry(entry_id=entry_id.decode(), operation_id=fields[b"op"].decode())
