"""Offset windows over 1-based pages: every window is covered with the fewest calls."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.riverty._paging import plan_page


def _one_page_sizes(first: int, end: int, max_size: int) -> list[int]:
    return [s for s in range(1, max_size + 1) if first // s == (end - 1) // s]


@given(st.integers(0, 100_000), st.integers(1, 100), st.integers(1, 100))
def test_the_planned_page_holds_the_first_missing_item(first, want, max_size):
    page, size = plan_page(first, first + want, max_size)
    assert 1 <= size <= max_size and page >= 1
    assert (page - 1) * size <= first < page * size


@given(st.integers(0, 100_000), st.integers(1, 100), st.integers(1, 100))
def test_one_call_whenever_one_page_can_hold_the_window(first, want, max_size):
    end = first + want
    page, size = plan_page(first, end, max_size)
    candidates = _one_page_sizes(first, end, max_size)
    if candidates:
        assert end <= page * size, "a single page could hold the window"
        assert size == min(candidates)
    else:
        assert size == max_size


@given(st.integers(0, 100_000), st.integers(1, 100), st.integers(1, 100))
def test_a_window_never_takes_more_calls_than_needed(first, want, max_size):
    end, calls, at = first + want, 0, first
    while at < end:
        page, size = plan_page(at, end, max_size)
        at = page * size
        calls += 1
    if _one_page_sizes(first, end, max_size):
        assert calls == 1
    elif want <= max_size:
        assert calls == 2
    else:  # pages of the largest size, aligned: the least any plan can do
        assert calls == (end - 1) // max_size - first // max_size + 1


@pytest.mark.parametrize(("first", "end", "max_size"), [(-1, 3, 10), (3, 3, 10), (0, 3, 0)])
def test_an_impossible_window_is_an_error(first, end, max_size):
    with pytest.raises(ValueError):
        plan_page(first, end, max_size)
