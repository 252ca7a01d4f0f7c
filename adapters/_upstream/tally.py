"""Hot-path metric updates: noted on the request path, counted into prometheus_client in batches.

Every HTTP request the gateway answers, and every call it sends to an agency, counts itself and
observes its latency. Through prometheus_client that is a `.labels()` lookup, a lock and, under
`serve --workers N` (multiprocess mode), a write of the shared file per value. Measured inside
the running gateway, where the rest of the request has pushed this code out of the CPU's caches,
each such step costs several times what it costs in a loop of its own (bench/README.md): a
ledger read paid ~15 µs for its request metrics and access line. A `Tally` only appends the
labels and the latency to a deque (one C call); `flush` takes the batch and counts it with C loops
(collections.Counter over label sets and buckets; only the latency sum is Python per entry), and
hands the batch to `then` (the access log writes its lines from it, gateway/middleware.py). A
flush happens:

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
from collections import Counter as Tallied
from collections import deque
from collections.abc import Callable
from functools import partial
from itertools import repeat, starmap
from operator import itemgetter
from typing import Any, cast

from prometheus_client import Counter, Histogram

__all__ = ["BATCH", "DISARMED", "FLUSH_SECONDS", "Entry", "FlushTimer", "Labels", "Tally", "flush"]

#: How long an entry may wait before it is counted.
FLUSH_SECONDS = 1.0
#: How many entries a tally holds before the add that reaches it flushes.
BATCH = 256

#: What a tally notes: the counter's labels, the latency (or None), then whatever `then` needs
#: (`add` notes one more item, `note` any number: the access log's entries are one flat tuple).
#: Label values are str, or int where the number is the label (an HTTP status): prometheus_client
#: turns them into text once per label set.
Entry = tuple[Any, ...]
Labels = tuple[str | int, ...]

_labels = itemgetter(0)
_seconds = itemgetter(1)

#: The event loop running now, or None (no exception where none runs): asyncio's own C lookup.
_running_loop = asyncio._get_running_loop


#: A FlushTimer's `loop` when no timer is set (not None: no loop running is None).
DISARMED = object()


class FlushTimer:
    """Makes sure a `flush` follows added data within `seconds` (also the log sink's, gateway/logs.py).

    `arm()` is called whenever data is added: unless a timer is already set on the running event
    loop, it sets one. It answers True — flush now, yourself — where no loop runs. A timer set on
    a loop that has closed since (tests run many) is replaced on the next `arm()` from another
    loop. `flush` calls `disarm()`; a timer that fires after that flushes nothing much.

    `loop` is the loop the timer is set on, or `DISARMED` — never None, so that a caller on the
    hot path can skip `arm()` with one comparison: `timer.loop is _running_loop()` holds only
    while a timer is set on the loop running now (Tally.note).
    """

    __slots__ = ("_flush", "_seconds", "loop")

    def __init__(self, flush: Callable[[], None], seconds: float) -> None:
        self._flush = flush
        self._seconds = seconds
        self.loop: object = DISARMED

    @property
    def armed(self) -> bool:
        return self.loop is not DISARMED

    def arm(self) -> bool:
        loop = _running_loop()
        if loop is None:
            return True
        if loop is not self.loop:
            self.loop = loop
            loop.call_later(self._seconds, self._flush)
        return False

    def disarm(self) -> None:
        self.loop = DISARMED


_lock = threading.Lock()
_tallies: list[Tally] = []


class Tally:
    """A counter, and optionally a latency histogram labelled by the counter's leading labels.

    `add(("GET", "/v1/...", 200), 0.004)` counts one under those counter labels and, with a
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
        self._counters: dict[Labels, Any] = {}
        self._histograms: dict[Labels, Any] = {}
        with _lock:
            _tallies.append(self)

    def add(self, labels: Labels, seconds: float | None = None, extra: Any = None) -> None:
        """Count one under `labels`; with a histogram, observe `seconds` too (when given); `extra`
        goes with the entry to `then`."""
        self.note((labels, seconds, extra))

    def note(self, entry: Entry) -> None:
        """`add` with the entry made by the caller: `(labels, seconds, ...)`, any number of items
        after those two for `then` (one tuple for the request path instead of three)."""
        entries = self._entries
        entries.append(entry)
        # The common case is two C calls and a comparison: a timer is set on this loop already.
        if len(entries) >= BATCH or (_timer.loop is not _running_loop() and _timer.arm()):
            flush()

    def _flush(self) -> None:  # under _lock
        entries = self._entries
        # Each pop is atomic (an entry added meanwhile waits for the next flush); C loops throughout:
        # per entry, the only Python is the latency sum in `_observe`.
        batch = list(starmap(entries.popleft, repeat((), len(entries))))
        if not batch:
            return
        labels = list(map(_labels, batch))
        counts = (
            Tallied(labels) if self._histogram is None else self._observe(labels, list(map(_seconds, batch)))
        )
        for key, count in counts.items():
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = self._counter.labels(*key)
            counter.inc(count)
        if self._then is not None:
            self._then(batch)

    def _observe(self, keys: list[Labels], seconds: list[float | None]) -> Tallied[Labels]:
        """Add the latencies to the histogram — per label set, the bucket counts that moved and
        the sum of the seconds: what `Histogram.observe` would have added one by one — and answer
        the count per label set. An entry without a latency (None) is counted, not observed."""
        timed = cast(list[float], seconds)  # unless None is in it (below)
        counts: Tallied[Labels] | None = None
        if None in seconds:
            counts = Tallied(keys)
            pairs = [(key, value) for key, value in zip(keys, seconds, strict=True) if value is not None]
            keys, timed = [key for key, _ in pairs], [value for _, value in pairs]
        # The first bound >= seconds is the bucket an observation lands in (`observe` counts it in
        # that bucket only; the exposition makes the counts cumulative).
        moved = Tallied(zip(keys, map(partial(bisect_left, self._bounds), timed), strict=True))
        totals: dict[Labels, float] = {}
        for key, value in zip(keys, timed, strict=True):
            totals[key] = totals.get(key, 0.0) + value
        width = self._histogram_labels
        for labels, total in totals.items():
            histogram = self._histogram_child(labels[:width])
            if total:
                histogram._sum.inc(total)
        if counts is None:  # every entry timed: the counts are the buckets' (one pass fewer)
            counts = Tallied()
            for (labels, _), count in moved.items():
                counts[labels] += count
        for (labels, index), count in moved.items():
            self._histogram_child(labels[:width])._buckets[index].inc(count)
        return counts

    def _histogram_child(self, key: Labels) -> Any:
        histogram = self._histograms.get(key)
        if histogram is None:
            assert self._histogram is not None
            histogram = self._histograms[key] = self._histogram.labels(*key)
        return histogram


def flush() -> None:
    """Count every waiting entry into the Prometheus values (this process's)."""
    with _lock:
        _timer.disarm()
        for tally in _tallies:
            tally._flush()


_timer = FlushTimer(flush, FLUSH_SECONDS)
atexit.register(flush)
