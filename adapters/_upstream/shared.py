"""SharedState for one process (the embedded default). The Redis one shares across replicas."""

from __future__ import annotations

import time
from collections.abc import Sequence

__all__ = ["MemorySharedState"]


class MemorySharedState:
    """Token cache, checkpoints and a GCRA rate limiter in this process's memory."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}
        self._tat: dict[str, float] = {}  # GCRA theoretical arrival time per key and limit

    async def cache_get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        self._values[key] = (value, None if ttl_seconds is None else time.monotonic() + ttl_seconds)

    async def acquire_rate(self, key: str, limits: Sequence[tuple[int, float]]) -> float:
        """GCRA over every (count, period) limit: take a slot in all of them, or none."""
        now = time.monotonic()
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
