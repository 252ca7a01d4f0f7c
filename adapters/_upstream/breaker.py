"""A per-agency circuit breaker, in this process.

    closed ──(threshold consecutive failures)──▶ open ──(cool-down)──▶ half-open
      ▲                                           ▲                       │ one probe call
      └──────────────── probe answered ───────────┴──── probe failed ─────┘

A failure is an agency that did not answer usefully: no connection, timeout, 5xx, 408. Any other
answer (2xx, 4xx, 429) proves it is up. While open, every call fails fast with
AgencyUnavailable(retry_after=rest of the cool-down) without touching the network: reads answer
503 at once, queued writes stay queued (architecture.md "Delivery guarantees"). Each replica
keeps its own breaker; they converge from their own observations.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from adapters._upstream import metrics
from canonical.problems import AgencyUnavailable

__all__ = ["CircuitBreaker", "State"]


class State(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    def __init__(
        self, agency: str, *, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 1 or cooldown <= 0:
            raise ValueError("breaker threshold must be >= 1 and cooldown > 0")
        self.agency = agency
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._state = State.CLOSED
        self._gauge = metrics.BREAKER_STATE.labels(agency)
        self._gauge.set(State.CLOSED)

    @property
    def state(self) -> State:
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._set(State.HALF_OPEN)
        return self._state

    def admit(self) -> bool:
        """Let a call through, or raise AgencyUnavailable. True when the call is the half-open probe."""
        state = self.state
        if state is State.CLOSED:
            return False
        if state is State.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        rest = max(0.0, self.cooldown - (self._clock() - self._opened_at))
        raise AgencyUnavailable(
            f"{self.agency}: failing fast, the agency failed {self.threshold} times in a row",
            agency=self.agency,
            retry_after=rest or 1.0,
        )

    def succeeded(self, probe: bool) -> None:
        self._failures = 0
        if probe:
            self._probing = False
        if self._state is not State.CLOSED:
            self._set(State.CLOSED)

    def failed(self, probe: bool) -> None:
        self._failures += 1
        if probe:
            self._probing = False
        if probe or (self._state is State.CLOSED and self._failures >= self.threshold):
            self._opened_at = self._clock()
            self._set(State.OPEN)

    def released(self, probe: bool) -> None:
        """The admitted call ended without an answer either way (cancelled, refused before sending)."""
        if probe:
            self._probing = False

    def _set(self, state: State) -> None:
        self._state = state
        self._gauge.set(state)
