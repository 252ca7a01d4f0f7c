"""The SDK's paging helpers: every walk over a list yields each item once, in order, and stops."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.sdk import (
    AdapterPage,
    BadRequest,
    cursor_position,
    offset_page,
    open_cursor_position,
    page_of,
    page_window,
    parse_offset,
)

sizes = st.integers(min_value=0, max_value=60)
limits = st.integers(min_value=1, max_value=25)


def _walk(page: Callable[[str | None], AdapterPage], bound: int = 200) -> tuple[list[int], int]:
    """All items over all pages, and how many pages it took."""
    items: list[int] = []
    position: str | None = None
    for calls in range(1, bound):
        current = page(position)
        items += current.items
        position = current.next_position
        if position is None:
            return items, calls
    raise AssertionError("the walk did not end")


@given(size=sizes, limit=limits, knows_total=st.booleans())
def test_offset_pages_over_an_agency_list_yield_every_item_once(
    size: int, limit: int, knows_total: bool
) -> None:
    agency = list(range(size))

    def page(position: str | None) -> AdapterPage:
        offset = parse_offset(position)
        return offset_page(
            agency[offset : offset + limit], offset, limit, total=size if knows_total else None
        )

    assert _walk(page)[0] == agency


@given(size=sizes, limit=limits)
def test_asking_for_one_more_item_ends_the_walk_without_an_empty_page(size: int, limit: int) -> None:
    agency = list(range(size))
    served: list[int] = []

    def page(position: str | None) -> AdapterPage:
        offset = parse_offset(position)
        result = offset_page(agency[offset : offset + limit + 1], offset, limit, asked=limit + 1)
        served.append(len(result.items))
        return result

    items, calls = _walk(page)
    assert items == agency
    assert calls == max(1, -(-size // limit))  # ceil: no trailing empty page
    assert all(count <= limit for count in served)


@given(size=sizes, limit=limits)
def test_a_full_last_page_without_a_total_costs_one_empty_page_and_no_more(size: int, limit: int) -> None:
    agency = list(range(size))

    def page(position: str | None) -> AdapterPage:
        offset = parse_offset(position)
        return offset_page(agency[offset : offset + limit], offset, limit)

    items, calls = _walk(page)
    assert items == agency
    assert calls == size // limit + 1


@given(size=sizes, limit=limits)
def test_a_list_read_whole_pages_by_offset(size: int, limit: int) -> None:
    agency = list(range(size))
    items, calls = _walk(lambda position: page_of(agency, position, limit))
    assert items == agency
    assert calls == max(1, -(-size // limit))


@given(
    size=sizes,
    offset=st.integers(min_value=0, max_value=70),
    limit=limits,
    page_size=st.integers(min_value=1, max_value=20),
    first_page=st.sampled_from([0, 1]),
)
def test_a_page_window_fetches_only_the_agency_pages_that_hold_it(
    size: int, offset: int, limit: int, page_size: int, first_page: int
) -> None:
    agency = list(range(size))

    def agency_page(number: int) -> list[int]:  # the agency's own numbering
        start = (number - first_page) * page_size
        return agency[start : start + page_size]

    window = page_window(offset, limit, page_size, first_page=first_page)
    fetched = [agency_page(number) for number in window.pages]
    assert window.cut([item for page in fetched for item in page]) == agency[offset : offset + limit]
    assert len(window.pages) <= -(-limit // page_size) + 1  # never more pages than the window spans
    assert window.pages[0] - first_page == offset // page_size
    assert window.is_last(len(fetched[-1]), total=size) == (offset + limit >= size)
    if len(fetched[-1]) < page_size:  # a short page ends the list even without a total
        assert window.is_last(len(fetched[-1]))


def test_page_windows_are_numbered_the_way_the_agency_counts() -> None:
    assert page_window(0, 10, 10, first_page=0).pages == range(0, 1)
    assert page_window(0, 10, 10, first_page=1).pages == range(1, 2)
    assert page_window(5, 4, 3, first_page=1).pages == range(2, 4)
    assert page_window(5, 4, 3).skip == 2


@given(cursor=st.text(min_size=1, max_size=40), skip=st.integers(min_value=0, max_value=10**9))
def test_a_cursor_position_opens_to_the_cursor_and_skip_it_was_made_of(cursor: str, skip: int) -> None:
    assert open_cursor_position(cursor_position(cursor, skip)) == (cursor, skip)


def test_the_first_page_has_no_cursor_and_no_offset() -> None:
    assert open_cursor_position(None) == (None, 0)
    assert parse_offset(None) == 0


@pytest.mark.parametrize("position", ["", "-1", "+3", " 3", "3 ", "1e3", "0x10", "١٢", "9" * 13, "abc"])
def test_anything_but_plain_digits_is_not_an_offset(position: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_offset(position)
    assert raised.value.code == "invalid_cursor"


@pytest.mark.parametrize("position", ["", "abc", ":cursor", "1:", "-1:c", "x:c", "1", "9" * 13 + ":c"])
def test_a_malformed_cursor_position_is_an_invalid_cursor(position: str) -> None:
    with pytest.raises(BadRequest) as raised:
        open_cursor_position(position)
    assert raised.value.code == "invalid_cursor"


@pytest.mark.parametrize(
    "call",
    [
        lambda: offset_page([], -1, 5),
        lambda: offset_page([], 0, 0),
        lambda: page_window(0, 1, 10, first_page=2),
        lambda: page_window(0, 0, 10),
        lambda: page_window(0, 1, 0),
        lambda: cursor_position("c", -1),
    ],
)
def test_a_window_that_cannot_exist_is_a_programming_error(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()
