"""The routing-version part of the Store contract, on the embedded store and on the real Redis."""

from __future__ import annotations

import asyncio

from gateway.settings import RoutingRule, RuleMatch
from gateway.stores import AuditEntry, RoutingVersion, Store, new_id, utcnow


def version(number: int, tenant: str = "acme", default: str = "intrum", **extra: object) -> RoutingVersion:
    return RoutingVersion(
        tenant=tenant,
        version=number,
        default_agency=default,
        rules=[RoutingRule(when=RuleMatch(currency=["SEK"], amount_max=10_000), agency="debbie")],
        changed_by="ops",
        changed_at=utcnow(),
        reason=f"change {number}",
        config_hash="h1",
        **extra,  # type: ignore[arg-type]
    )


def audit(action: str) -> AuditEntry:
    return AuditEntry(id=new_id("aud"), at=utcnow(), actor="ops", action=action, tenant="acme")


async def test_versions_are_appended_in_order_and_read_back_exactly(store: Store) -> None:
    first, second = version(1), version(2, default="riverty", rollback_of=1)
    assert await store.append_routing_version(first)
    assert await store.append_routing_version(second)
    assert await store.routing_version("acme", 1) == first
    assert await store.routing_version("acme", 2) == second
    assert await store.routing_version("acme") == second


async def test_unknown_tenant_or_version_reads_as_none(store: Store) -> None:
    assert await store.routing_version("nobody") is None
    assert await store.append_routing_version(version(1))
    assert await store.routing_version("acme", 2) is None
    assert await store.routing_version("acme", 0) is None
    assert await store.routing_history("nobody", None, 10) == ([], None)


async def test_a_version_that_is_not_the_next_one_is_refused_and_nothing_is_stored(store: Store) -> None:
    assert not await store.append_routing_version(version(2), audit("skipped"))
    first = version(1)
    assert await store.append_routing_version(first)
    assert not await store.append_routing_version(version(1, default="riverty"), audit("stale"))
    assert not await store.append_routing_version(version(3))
    assert await store.routing_version("acme") == first
    assert await store.routing_history("acme", None, 10) == ([first], None)
    entries, _ = await store.list_audit(None, 10)
    assert entries == []


async def test_concurrent_appends_of_the_same_number_store_exactly_one(store: Store) -> None:
    assert await store.append_routing_version(version(1))
    results = await asyncio.gather(
        *(store.append_routing_version(version(2, default=f"agency{i}")) for i in range(8))
    )
    assert sum(results) == 1
    winner = results.index(True)
    current = await store.routing_version("acme")
    assert current is not None and current.version == 2 and current.default_agency == f"agency{winner}"


async def test_the_audit_entry_is_stored_with_its_version(store: Store) -> None:
    entry = audit("routing.update")
    assert await store.append_routing_version(version(1), entry)
    entries, _ = await store.list_audit(None, 10)
    assert entries == [entry]


async def test_history_pages_newest_first_without_gaps_or_repeats(store: Store) -> None:
    for number in range(1, 8):
        assert await store.append_routing_version(version(number))
    seen: list[int] = []
    position: str | None = None
    while True:
        page, position = await store.routing_history("acme", position, 3)
        seen += [v.version for v in page]
        if position is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]


async def test_tenants_have_separate_histories(store: Store) -> None:
    assert await store.append_routing_version(version(1, tenant="acme"))
    assert await store.append_routing_version(version(1, tenant="globex", default="riverty"))
    acme, _ = await store.routing_history("acme", None, 10)
    globex, _ = await store.routing_history("globex", None, 10)
    assert [(v.tenant, v.default_agency) for v in acme] == [("acme", "intrum")]
    assert [(v.tenant, v.default_agency) for v in globex] == [("globex", "riverty")]


async def test_a_returned_version_cannot_change_the_stored_one(store: Store) -> None:
    assert await store.append_routing_version(version(1))
    read = await store.routing_version("acme", 1)
    assert read is not None
    read.rules.clear()
    read.default_agency = "changed"
    again = await store.routing_version("acme", 1)
    assert again is not None and again.default_agency == "intrum" and len(again.rules) == 1
