"""SharedState: what the upstream plumbing keeps where every replica sees it.

    SharedState (Protocol)       cache_get / cache_set / acquire_rate
    └── RatePausing (Protocol)   + pause_rate, honoured by acquire_rate in the same atomic step
        ├── MemorySharedState    one process (the embedded default, tests)
        └── RedisSharedState     every replica of the gateway, through one Redis

`acquire_rate(key, limits)` is a GCRA (generic cell rate algorithm) over every
`(count, period_seconds)` bucket at once: one slot is taken under all of them or under none.
A bucket lets `count` calls go back to back and refills one slot every `period / count` seconds.
(The upstream client turns an agency's "N per window" into buckets that can never exceed N in
any window; see `ratelimit.py`.) The answer is 0.0 when the slot was taken, else the seconds to
wait before asking again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import redis.asyncio

__all__ = ["MemorySharedState", "RatePausing", "RedisSharedState", "SharedState"]


class SharedState(Protocol):
    """What the upstream plumbing needs from the gateway's store, shared by all replicas."""

    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None: ...

    async def acquire_rate(self, key: str, limits: Sequence[tuple[int, float]]) -> float:
        """Take one slot under every (count, period_seconds) limit; 0.0 if taken, else seconds to wait."""
        ...


@runtime_checkable
class RatePausing(SharedState, Protocol):
    """A SharedState that can hold a rate key shut (the agency said 429 / remaining 0) atomically.

    A store without it still works: the client then keeps the pause with cache_set/cache_get,
    one more round trip per call.
    """

    async def pause_rate(self, key: str, seconds: float) -> None:
        """Make acquire_rate(key, ...) answer "wait" for `seconds` from now (a longer pause wins)."""
        ...


class MemorySharedState:
    """Token cache, checkpoints and a GCRA rate limiter in this process's memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock  # tests drive the limiter on a simulated clock
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._tat: dict[str, float] = {}  # GCRA theoretical arrival time per key and limit
        self._paused: dict[str, float] = {}

    async def cache_get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self._clock():
            del self._values[key]
            return None
        return value

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        self._values[key] = (value, None if ttl_seconds is None else self._clock() + ttl_seconds)

    async def acquire_rate(self, key: str, limits: Sequence[tuple[int, float]]) -> float:
        """GCRA over every (count, period) limit: take a slot in all of them, or none."""
        now = self._clock()
        paused = self._paused.get(key, 0.0)
        if paused > now:
            return paused - now
        wait = 0.0
        new_tats: list[tuple[str, float]] = []
        for count, period in limits:
            interval = period / count
            slot = f"{key}|{count}/{period}"
            tat = max(self._tat.get(slot, now), now)
            allowed_at = tat - period + interval  # burst of `count` within `period`
            if allowed_at > now:
                wait = max(wait, allowed_at - now)
            new_tats.append((slot, tat + interval))
        if wait > 0:
            return wait
        self._tat.update(new_tats)
        return 0.0

    async def pause_rate(self, key: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._paused[key] = max(until, self._paused.get(key, 0.0))


# All times in integer microseconds of the Redis server's clock, so replicas whose clocks
# disagree still share one schedule. Lua numbers are doubles: µs since 1970 (~1.8e15) stay exact
# below 2^53, and string.format('%.0f') keeps every digit where tostring() would round to 14.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return math.ceil(paused - now) end
local wait = 0
local tats = {}
for i = 2, #KEYS do
  local count = tonumber(ARGV[2 * i - 3])
  local period = tonumber(ARGV[2 * i - 2])
  local interval = period / count
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local allowed_at = tat - period + interval
  if allowed_at - now > wait then wait = allowed_at - now end
  tats[i] = tat + interval
end
if wait > 0 then return math.ceil(wait) end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
end
return 0
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = now + tonumber(ARGV[1])
if untl > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', untl), 'PX', math.ceil((untl - now) / 1000) + 1)
end
return 0
"""


class RedisSharedState:
    """SharedState for every replica: one Redis, keys under `prefix`.

    Each rate key's state lives under one hash tag (`{key}`), so the script's keys share a slot
    on Redis Cluster too. `redis` may decode responses or not; values come back as bytes.
    Checkpoints written with `ttl_seconds=None` never expire (adapters keep feed positions here).
    """

    def __init__(self, redis: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix.rstrip(":")
        self._acquire = redis.register_script(_ACQUIRE)
        self._pause = redis.register_script(_PAUSE)

    def _kv(self, key: str) -> str:
        return f"{self._prefix}:kv:{key}"

    def _rate(self, key: str) -> str:
        return f"{self._prefix}:rate:{{{key}}}"

    async def cache_get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._kv(key))
        if value is None or isinstance(value, bytes):
            return value
        return str(value).encode()

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        if ttl_seconds is None:
            await self._redis.set(self._kv(key), value)
        else:
            await self._redis.set(self._kv(key), value, px=max(1, int(ttl_seconds * 1000)))

    async def acquire_rate(self, key: str, limits: Sequence[tuple[int, float]]) -> float:
        base = self._rate(key)
        keys = [f"{base}:pause", *(f"{base}:{count}/{period:g}" for count, period in limits)]
        args: list[int] = []
        for count, period in limits:
            args += [count, round(period * 1_000_000)]
        wait_us = await self._acquire(keys=keys, args=args)
        return int(wait_us) / 1_000_000

    async def pause_rate(self, key: str, seconds: float) -> None:
        await self._pause(keys=[f"{self._rate(key)}:pause"], args=[max(1, round(seconds * 1_000_000))])
