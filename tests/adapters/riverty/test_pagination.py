"""Listing a 57-invoice claim with every gateway limit 1-100 over Riverty's 1-based pages.

One sandbox and one claim per page-size setup, reused by every limit: the whole file stays fast.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from adapters._upstream import MemorySharedState, UpstreamClient
from adapters.base import ClaimRef, credential_from_section
from adapters.riverty import SPEC
from adapters.riverty.sandbox import build_sandbox
from canonical.problems import BadRequest
from tests.adapters.riverty._support import Riverty, create_claim, make_adapter, make_claim

INVOICES = [f"INV-{i:03d}" for i in range(57)]
ROUTE = "GET /claims/{n}/invoices"


@dataclass
class Setup:
    riverty: Riverty
    ref: ClaimRef
    #: what the adapter is told about Riverty's largest page (None: it must find out)
    told_max: int | None
    #: Riverty's largest page
    served_max: int


SETUPS = {
    # Riverty honours any page size up to 100 (its default, 10, is never relied on).
    "pages-up-to-100": (100, None, 10),
    # Riverty caps pages at 7 and the adapter is configured for it.
    "capped-at-7-known": (7, 7, 7),
    # Riverty caps pages at 7 silently; the adapter learns it from `pagination.pageSize`.
    "capped-at-7-unknown": (7, None, 25),
}


@pytest.fixture(scope="module", params=list(SETUPS))
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    served_max, told_max, default_size = SETUPS[request.param]
    riverty = Riverty.start(build_sandbox(max_page_size=served_max, page_size=default_size))

    async def make() -> ClaimRef:
        upstream = UpstreamClient("riverty", riverty.base_url, shared=MemorySharedState())
        try:
            adapter = make_adapter(riverty.base_url, upstream)
            return await create_claim(
                adapter, _credential(), make_claim([(n, 100 + i) for i, n in enumerate(INVOICES)])
            )
        finally:
            await upstream.aclose()

    ref = asyncio.run(make())
    yield Setup(riverty=riverty, ref=ref, told_max=told_max, served_max=served_max)
    riverty.stop()


def _credential():
    assert SPEC.sandbox is not None
    return credential_from_section("riverty", "demo", SPEC.sandbox.credentials(), SPEC.sandbox.secrets())


def _one_page_can_hold(first: int, end: int, max_size: int) -> bool:
    return any(first // s == (end - 1) // s for s in range(1, max_size + 1))


async def test_every_limit_lists_the_57_invoices_once_in_order_with_the_fewest_calls(setup: Setup):
    upstream = UpstreamClient("riverty", setup.riverty.base_url, shared=MemorySharedState())
    options = {} if setup.told_max is None else {"options": {"max_page_size": setup.told_max}}
    adapter = make_adapter(setup.riverty.base_url, upstream, **options)
    credential = _credential()
    cap = setup.served_max
    extra_calls = 0  # calls beyond the per-page bound: only to learn an undeclared cap, once
    try:
        for limit in range(1, 101):
            listed: list[str] = []
            position: str | None = None
            pages = 0
            while True:
                offset = len(listed)
                before = setup.riverty.calls(ROUTE)
                page = await adapter.list_invoices(credential, setup.ref, position, limit)
                calls = setup.riverty.calls(ROUTE) - before
                pages += 1
                assert len(page.items) == min(limit, 57 - offset), (limit, offset)
                listed += [invoice.number for invoice in page.items]
                end = min(offset + limit, 57)
                if _one_page_can_hold(offset, offset + limit, cap):
                    bound = 1
                elif limit <= cap:
                    bound = 2
                else:  # pages of the largest size, aligned, up to the end of the list
                    bound = (end - 1) // cap - offset // cap + 1
                assert calls <= bound + 1, (limit, offset, calls)
                extra_calls += calls - min(calls, bound)
                position = page.next_position
                if position is None:
                    break
                assert len(listed) < 57, "next_position must be None exactly at the end"
            assert listed == INVOICES, limit
            assert pages == math.ceil(57 / limit)
        assert extra_calls <= (0 if setup.told_max is not None or cap == 100 else 1)
    finally:
        await upstream.aclose()


async def test_a_position_at_or_past_the_end_gives_an_empty_last_page(setup: Setup):
    upstream = UpstreamClient("riverty", setup.riverty.base_url, shared=MemorySharedState())
    try:
        adapter = make_adapter(setup.riverty.base_url, upstream)
        for position in ("57", "80"):
            page = await adapter.list_invoices(_credential(), setup.ref, position, 10)
            assert page.items == [] and page.next_position is None
        with pytest.raises(BadRequest):
            await adapter.list_invoices(_credential(), setup.ref, "page-2", 10)
    finally:
        await upstream.aclose()
