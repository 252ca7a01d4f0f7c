"""Hot-path metric updates: noted on the request path, counted into prometheus_client in batches.

Every HTTP request the gateway answers, and every call it sends to an agency, counts itself and
observes its latency. Through prometheus_client that is a `.labels()` lookup, a lock and, under
`serve --workers N` (multiprocess mode), a write of the shared file per value. Measured inside
the running gateway, where the rest of the request has pushed this code out of the CPU's caches,
each such step costs several times what it costs in a loop of its own (bench/README.md): a
ledger read paid ~15 µs for its request metrics and access line. A `Tally` only appends the
labels and the latency to a deque (one C call); `flush` takes the batch and does the counting in
one tight loop, and hands the batch to `then` (the access log writes its lines from it,
gateway/middleware.py). A flush happens:

- before every exposition of this process (gateway/metrics.exposition calls `flush`),
- when `BATCH` entries are waiting (on the request path that adds the last one),
- at most `FLUSH_SECONDS` after the first entry since the last flush (`FlushTimer`: a timer on
  the running event loop; right away where no loop runs),
- when the interpreter exits (gateway/logs.py writes the access lines after that).

So a scrape of a process is exact for that process, and under `serve --workers N` another
process's counts reach the shared files at most ~1 s late. A process killed outright (SIGKILL,
OOM) loses at most `BATCH` entries or its last second. At most `BATCH` entries wait per tally.

Appends and the flush's pops are deque operations, which are atomic: an entry added from
another thread while a flush runs is counted by this flush or the next, never lost.

The sums are added to a histogram's own bucket and sum values (`_buckets`, `_sum`): the same
values `Histogram.observe` adds to, one call per bucket that moved instead of one per
observation. tests/unit/test_metrics_tally.py pins that to prometheus_client's own `observe`.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Histogram

__all__ = ["BATCH", "FLUSH_SECONDS", "Entry", "FlushTimer", "Tally", "flush"]

#: How long an entry may wait before it is counted.
FLUSH_SECONDS = 1.0
#: How many entries a tally holds before the add that reaches it flushes.
BATCH = 256

#: What `add` notes: the counter's labels, the latency (or None), and whatever `then` needs.
Entry = tuple[tuple[str, ...], float | None, Any]


class FlushTimer:
    """Makes sure a `flush` follows added data within `seconds` (also the log sink's, gateway/logs.py).

    `arm()` is called whenever data is added: unless a timer is already set on the running event
    loop, it sets one. It answers True — flush now, yourself — where no loop runs. A timer set on
    a loop that has closed since (tests run many) is replaced on the next `arm()` from another
    loop. `flush` calls `disarm()`; a timer that fires after that flushes nothing much.
    """

    __slots__ = ("_flush", "_loop", "_seconds")

    def __init__(self, flush: Callable[[], None], seconds: float) -> None:
        self._flush = flush
        self._seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def armed(self) -> bool:
        return self._loop is not None

    def arm(self) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return True
        if loop is not self._loop:
            self._loop = loop
            loop.call_later(self._seconds, self._flush)
        return False

    def disarm(self) -> None:
        self._loop = None


_lock = threading.Lock()
_tallies: list[Tally] = []


class Tally:
    """A counter, and optionally a latency histogram labelled by the counter's leading labels.

    `add(("GET", "/v1/...", "200"), 0.004)` counts one under those counter labels and, with a
    histogram labelled (method, route), observes 0.004 s under ("GET", "/v1/..."). `then`, if
    given, receives each flushed batch of entries after they were counted.
    """

    __slots__ = (
        "_bounds",
        "_counter",
        "_counters",
        "_entries",
        "_histogram",
        "_histogram_labels",
        "_histograms",
        "_then",
    )

    def __init__(
        self,
        counter: Counter,
        histogram: Histogram | None = None,
        then: Callable[[list[Entry]], None] | None = None,
    ) -> None:
        self._counter = counter
        self._histogram = histogram
        self._then = then
        self._bounds: tuple[float, ...] = tuple(histogram._upper_bounds) if histogram is not None else ()
        self._histogram_labels = len(histogram._labelnames) if histogram is not None else 0
        self._entries: deque[Entry] = deque()
        self._counters: dict[tuple[str, ...], Any] = {}
        self._histograms: dict[tuple[str, ...], Any] = {}
        with _lock:
            _tallies.append(self)

    def add(self, labels: tuple[str, ...], seconds: float | None = None, extra: Any = None) -> None:
        """Count one under `labels`; with a histogram, observe `seconds` too (when given); `extra`
        goes with the entry to `then`."""
        entries = self._entries
        entries.append((labels, seconds, extra))
        if len(entries) >= BATCH or _timer.arm():
            flush()

    def _flush(self) -> None:  # under _lock
        entries = self._entries
        batch = [entries.popleft() for _ in range(len(entries))]
        if not batch:
            return
        counts: dict[tuple[str, ...], int] = {}
        observed: dict[tuple[str, ...], list[Any]] = {}
        bounds = self._bounds
        for labels, seconds, _ in batch:
            counts[labels] = counts.get(labels, 0) + 1
            if seconds is not None and bounds:
                key = labels[: self._histogram_labels]
                sums = observed.get(key)
                if sums is None:
                    sums = observed[key] = [0.0, [0] * len(bounds)]
                sums[0] += seconds
                sums[1][bisect_left(bounds, seconds)] += 1  # the first bound >= seconds
        for labels, count in counts.items():
            counter = self._counters.get(labels)
            if counter is None:
                counter = self._counters[labels] = self._counter.labels(*labels)
            counter.inc(count)
        for key, (total, buckets) in observed.items():
            histogram = self._histograms.get(key)
            if histogram is None:
                assert self._histogram is not None
                histogram = self._histograms[key] = self._histogram.labels(*key)
            if total:
                histogram._sum.inc(total)
            for index, moved in enumerate(buckets):
                if moved:
                    histogram._buckets[index].inc(moved)
        if self._then is not None:
            self._then(batch)


def flush() -> None:
    """Count every waiting entry into the Prometheus values (this process's)."""
    with _lock:
        _timer.disarm()
        for tally in _tallies:
            tally._flush()


_timer = FlushTimer(flush, FLUSH_SECONDS)
atexit.register(flush)
