"""Offset windows over Riverty's 1-based pages, pure.

The gateway asks for `limit` items from an offset (the adapter's position); Riverty serves fixed
pages `page=1,2,…` of `pageSize` items (riverty-claim-invoices.txt). The window [offset,
offset+limit) is covered with as few upstream calls as possible: one call whenever some page size
≤ Riverty's largest has the window inside one of its pages, otherwise two (a window no longer
than a page spans at most two pages of the largest size).
"""

from __future__ import annotations

__all__ = ["plan_page"]


def plan_page(first: int, end: int, max_page_size: int) -> tuple[int, int]:
    """The (page, pageSize) to fetch next for the items [first, end) still missing.

    The page returned always contains `first` (so every call makes progress); it contains the
    whole rest of the window whenever one page can, choosing the smallest such page size.
    """
    if first < 0 or end <= first or max_page_size < 1:
        raise ValueError(f"bad window [{first}, {end}) with pages of at most {max_page_size}")
    want = end - first
    for size in range(min(want, max_page_size), max_page_size + 1):
        if first // size == (end - 1) // size and size >= want:
            return first // size + 1, size
    # No single page holds the window: take the largest page around `first`; what is left then
    # starts on a page boundary and fits the next page (or the pages after, if limit > max size).
    return first // max_page_size + 1, max_page_size
