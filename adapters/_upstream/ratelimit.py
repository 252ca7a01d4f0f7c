"""Per-credential rate limiting, shared by every replica through SharedState.

An agency publishes "N calls per window" (Intrum: 100/min and 10,000/day per client id,
intrum-cps-api-v1.md "Rate Limiting") without saying whether its windows slide. We keep the
stricter reading — never more than N in *any* window of that length — so neither a fixed nor a
sliding window at the agency answers 429.

A GCRA bucket of `b` back-to-back calls refilling one every `T` seconds admits at most
`b - 1 + period / T` calls in a window of `period`. A limit `(count, period, burst)` therefore
becomes the bucket `T = period / (count - burst + 1)`, i.e. SharedState limit
`(burst, burst * T)`. By default the shortest window is paced evenly (burst 1: the full rate,
no bunching) and longer windows (a day) let half their calls go as fast as the shorter ones
allow, the other half paced over the window. `margin` shaves a few per cent off every window
so that network jitter between our grant and the agency's clock cannot tip a window over.

The agency has the last word: a 429 (`Retry-After`) or `X-RateLimit-Remaining: 0`
(`X-RateLimit-Reset`) pauses the credential for every replica until then.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping, Sequence

import msgspec

from adapters._upstream import metrics
from adapters._upstream.shared import RatePausing, SharedState
from canonical.problems import AgencyRateLimited

__all__ = ["RateLimit", "RateLimiter", "parse_retry_after", "to_buckets"]

#: (count, period_seconds) or (count, period_seconds, burst)
RateLimit = tuple[int, float] | tuple[int, float, int]

_MAX_PAUSE = 86400.0  # a broken Reset header must not shut a credential for longer than a day


def to_buckets(limits: Sequence[RateLimit], margin: float = 0.05) -> tuple[tuple[int, float], ...]:
    """Translate "never more than count per period" limits into SharedState GCRA buckets."""
    if not limits:
        return ()
    shortest = min(limit[1] for limit in limits)
    buckets = []
    for limit in limits:
        count, period = int(limit[0]), float(limit[1])
        default_burst = 1 if period == shortest else max(1, count // 2)
        burst = limit[2] if len(limit) == 3 else default_burst
        if count < 1 or period <= 0 or not 1 <= burst <= count:
            raise ValueError(f"bad rate limit {limit!r}: need count >= burst >= 1 and period > 0")
        interval = period * (1 + margin) / (count - burst + 1)
        buckets.append((burst, burst * interval))
    return tuple(buckets)


class _Pause(msgspec.Struct, array_like=True):
    until: float  # wall clock, seconds since the epoch


class RateLimiter:
    """Takes a slot per call for a rate key, waiting up to a deadline; records agency pushback."""

    def __init__(self, agency: str, shared: SharedState, limits: Sequence[RateLimit], margin: float) -> None:
        self.agency = agency
        self._shared = shared
        self._buckets = to_buckets(limits, margin)
        self._pausing = isinstance(shared, RatePausing)
        # Uncontended, callers ask the store concurrently. Once one has to wait for a slot, the
        # others of this process queue behind it in arrival order instead of all polling Redis
        # for the same next slot.
        self._locks: dict[str, asyncio.Lock] = {}
        self._blocked_until: dict[str, float] = {}  # monotonic; this process's last known wait
        self._waits = metrics.RATE_WAIT.labels(agency)

    async def acquire(self, key: str, deadline: float) -> None:
        """Take one slot for `key`, sleeping until the limiter grants it or `deadline` (monotonic).

        Raises AgencyRateLimited (nothing was sent) when no slot comes before the deadline.
        """
        now = time.monotonic()
        blocked = self._blocked_until.get(key, 0.0)
        if blocked > deadline:
            raise self._refused(key, blocked - now)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        wait = 0.0
        if not lock.locked():
            wait = await self._take(key)
            if wait <= 0:
                return
            self._note(key, wait, deadline)
        if lock.locked():
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await lock.acquire()
            except TimeoutError:
                later = time.monotonic()
                raise self._refused(key, max(self._blocked_until.get(key, 0.0) - later, 0.1)) from None
            wait = 0.0  # what we were told before queueing is stale now
        else:
            await lock.acquire()
        try:
            while True:
                if wait > 0:
                    await asyncio.sleep(wait)  # until the limiter's next slot, not a poll
                wait = await self._take(key)
                if wait <= 0:
                    self._waits.observe(time.monotonic() - now)
                    return
                self._note(key, wait, deadline)
        finally:
            lock.release()

    def _note(self, key: str, wait: float, deadline: float) -> None:
        later = time.monotonic()
        self._blocked_until[key] = later + wait
        if later + wait > deadline:
            raise self._refused(key, wait)

    async def _take(self, key: str) -> float:
        if not self._pausing:
            raw = await self._shared.cache_get(_pause_key(key))
            if raw:
                left = msgspec.json.decode(raw, type=_Pause).until - time.time()
                if left > 0:
                    return left
            if not self._buckets:
                return 0.0
        return await self._shared.acquire_rate(key, self._buckets)

    def _refused(self, key: str, retry_after: float) -> AgencyRateLimited:
        metrics.RATE_LIMITED.labels(self.agency, "no_slot_in_time").inc()
        return AgencyRateLimited(
            f"{self.agency}: no rate-limit slot for this credential in time",
            agency=self.agency,
            retry_after=retry_after,
        )

    async def observe(self, key: str, status: int, headers: Mapping[str, str]) -> None:
        """Pause `key` when the agency says it is out of calls (429, or Remaining: 0 until Reset)."""
        if status == 429:
            seconds = parse_retry_after(headers) or _until_reset(headers) or 1.0
            metrics.RATE_LIMITED.labels(self.agency, "agency_429").inc()
        elif headers.get("x-ratelimit-remaining", "").strip() == "0":
            seconds = parse_retry_after(headers) or _until_reset(headers) or 0.0
        else:
            return
        if seconds > 0:
            await self.pause(key, min(seconds, _MAX_PAUSE))

    async def pause(self, key: str, seconds: float) -> None:
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), time.monotonic() + seconds)
        if isinstance(self._shared, RatePausing):
            await self._shared.pause_rate(key, seconds)
        else:
            value = msgspec.json.encode(_Pause(time.time() + seconds))
            await self._shared.cache_set(_pause_key(key), value, seconds)


def _pause_key(key: str) -> str:
    return f"rate-pause:{key}"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _until_reset(headers: Mapping[str, str]) -> float | None:
    """X-RateLimit-Reset: a Unix timestamp at Intrum ("Rate Limiting"); small values are seconds."""
    value = headers.get("x-ratelimit-reset")
    if not value:
        return None
    try:
        reset = float(value)
    except ValueError:
        return None
    return max(0.0, reset - time.time()) if reset > 1e9 else max(0.0, reset)
