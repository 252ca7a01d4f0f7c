"""A Tally's counts reach Prometheus as if each had been observed on its own, and they get there."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram

from adapters._upstream import tally
from adapters._upstream.tally import Tally

BUCKETS = (0.001, 0.005, 0.01, 0.1, 1.0)
LABELS = st.sampled_from([("GET", "/a", "200"), ("GET", "/a", "404"), ("POST", "/b", "202")])
# Bucket bounds themselves, and values either side, are where an off-by-one would show.
SECONDS = st.one_of(
    st.sampled_from([0.0, *BUCKETS]),
    st.floats(min_value=0, max_value=5, allow_nan=False).map(lambda x: round(x, 4)),
    st.none(),
)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample but the `_created` timestamps (two registries made apart differ in those)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def families(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    counter = Counter("t_requests", "requests", ["method", "route", "status"], registry=registry)
    histogram = Histogram("t_seconds", "latency", ["method", "route"], buckets=BUCKETS, registry=registry)
    return counter, histogram


@given(st.lists(st.tuples(LABELS, SECONDS), max_size=60))
def test_a_tally_exposes_exactly_what_observing_each_would(
    events: list[tuple[tuple[str, str, str], float | None]],
) -> None:
    tallied, direct = CollectorRegistry(), CollectorRegistry()
    counts = Tally(*families(tallied))
    counter, histogram = families(direct)
    for labels, seconds in events:
        counts.add(labels, seconds)
        counter.labels(*labels).inc()
        if seconds is not None:
            histogram.labels(*labels[:2]).observe(seconds)
    tally.flush()
    # Counts exact; a sum of seconds as floats added in another order (per status, then per route)
    assert samples(tallied) == pytest.approx(samples(direct), rel=1e-12)


def test_counts_outside_an_event_loop_reach_prometheus_at_once() -> None:
    registry = CollectorRegistry()
    counts = Tally(Counter("t_sync", "sync", ["route"], registry=registry))
    counts.add(("/a",))
    assert registry.get_sample_value("t_sync_total", {"route": "/a"}) == 1.0


def test_counts_reach_prometheus_within_the_flush_interval_without_a_scrape() -> None:
    registry = CollectorRegistry()
    counter, histogram = families(registry)
    counts = Tally(counter, histogram)
    tally.flush()

    async def traffic() -> tuple[float | None, float | None]:
        counts.add(("GET", "/a", "200"), 0.002)
        before = registry.get_sample_value(
            "t_requests_total", {"method": "GET", "route": "/a", "status": "200"}
        )
        # The timer the first count set is what moves it (no exposition, no further count).
        while tally._timer.armed:  # noqa: ASYNC110  # the module's own state, no event to wait on
            await asyncio.sleep(0.05)
        after = registry.get_sample_value("t_seconds_count", {"method": "GET", "route": "/a"})
        return before, after

    before, after = asyncio.run(traffic())
    assert before is None and after == 1.0


def test_a_timer_lost_with_its_loop_is_set_again_on_the_next_loop() -> None:
    registry = CollectorRegistry()
    counts = Tally(Counter("t_lost", "lost", ["route"], registry=registry))
    tally.flush()

    async def count() -> None:
        counts.add(("/a",))

    asyncio.run(count())  # the timer goes with this loop, before it fires
    assert tally._timer.armed and registry.get_sample_value("t_lost_total", {"route": "/a"}) is None

    async def count_and_wait() -> None:
        counts.add(("/a",))
        while tally._timer.armed:  # noqa: ASYNC110  # the module's own state, no event to wait on
            await asyncio.sleep(0.05)

    asyncio.run(count_and_wait())
    assert registry.get_sample_value("t_lost_total", {"route": "/a"}) == 2.0


def test_a_full_batch_is_counted_by_the_add_that_fills_it_and_handed_on_in_order() -> None:
    registry = CollectorRegistry()
    handed: list[list[tally.Entry]] = []
    counts = Tally(Counter("t_batch", "batch", ["route"], registry=registry), then=handed.append)
    tally.flush()

    async def traffic() -> float | None:
        for n in range(tally.BATCH - 1):
            counts.add(("/a",), extra=n)
        waiting = registry.get_sample_value("t_batch_total", {"route": "/a"})
        counts.add(("/a",), extra=tally.BATCH - 1)
        return waiting

    assert asyncio.run(traffic()) is None  # nothing counted before the batch was full
    assert registry.get_sample_value("t_batch_total", {"route": "/a"}) == tally.BATCH
    assert [extra for _, _, extra in handed[0]] == list(range(tally.BATCH))
