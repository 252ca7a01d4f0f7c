"""Config file vs store: the file seeds a tenant's routing; a change made through the API wins until
the file's own routing for that tenant changes, and then the file becomes a new version."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.auth import Principal
from gateway.runtime import Runtime
from gateway.services.tenants import TenantService, TenantUpdate, seed_tenant
from gateway.settings import ConfigError, Settings
from gateway.stores import MemoryStore, Store
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.routing._support import (
    Y_CAPABILITIES,
    RecordingAgency,
    bearer,
    fake_spec,
    routing_document,
    routing_settings,
    running_gateway,
)

SPECS = {"x": fake_spec(RecordingAgency("x")), "y": fake_spec(RecordingAgency("y"), Y_CAPABILITIES)}
OPS = Principal(key_id="key_ops", name="ops", tenant=None, scopes=frozenset({"admin"}))


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(REDIS_URL, request.getfixturevalue("redis_prefix"))
    try:
        yield redis_store
    finally:
        await redis_store.aclose()


def config(**acme: Any) -> Settings:
    return routing_settings(SPECS, routing_document(**acme))


async def start(settings: Settings, store: Store) -> Runtime:
    """What a gateway process does at start (seeds keys and tenants), without serving."""
    runtime = Runtime(settings, store=store, specs=SPECS)
    runtime.cursor_key = await store.cursor_key()
    await runtime._seed_tenants()
    return runtime


async def test_first_start_seeds_version_1_from_the_file_authored_by_config(store: Store) -> None:
    await start(config(), store)
    version = await store.routing_version("acme")
    assert version is not None
    assert (version.version, version.default_agency, version.changed_by) == (1, "x", "config")
    entries, _ = await store.list_audit(None, 10)
    assert [(e.action, e.tenant, e.actor) for e in entries] == [
        ("routing.seeded", "acme", "config"),
        ("routing.seeded", "solo", "config"),
    ]


async def test_restart_with_the_same_file_keeps_the_version_changed_through_the_api(store: Store) -> None:
    runtime = await start(config(), store)
    await TenantService(runtime).update("acme", TenantUpdate(default_agency="y", reason="switch"), '"1"', OPS)
    await start(config(), store)  # the file did not change: the API's version stays in force
    current = await store.routing_version("acme")
    assert current is not None and (current.version, current.default_agency, current.changed_by) == (
        2,
        "y",
        "ops",
    )


async def test_restart_with_a_changed_file_makes_the_file_a_new_version(store: Store) -> None:
    runtime = await start(config(), store)
    await TenantService(runtime).update("acme", TenantUpdate(default_agency="y", reason="switch"), '"1"', OPS)
    rules = [{"when": {"currency": ["SEK"]}, "agency": "y"}]
    await start(config(routing={"rules": rules}), store)
    current = await store.routing_version("acme")
    assert current is not None
    assert (current.version, current.default_agency, current.changed_by) == (3, "x", "config")
    assert current.reason == "the config file's routing changed"
    assert [r.agency for r in current.rules] == ["y"]
    solo = await store.routing_version("solo")
    assert solo is not None and solo.version == 1  # its section did not change
    # Once more with the same file: nothing new.
    await start(config(routing={"rules": rules}), store)
    assert (await store.routing_version("acme")).version == 3  # type: ignore[union-attr]


async def test_only_the_routing_counts_not_how_the_file_writes_it(store: Store) -> None:
    await start(
        config(routing={"rules": [{"when": {"currency": ["SEK"], "country": ["SE"]}, "agency": "y"}]}), store
    )
    reordered = {"rules": [{"agency": "y", "when": {"country": ["SE"], "currency": ["SEK"]}}]}
    await start(config(routing=reordered), store)
    assert (await store.routing_version("acme")).version == 1  # type: ignore[union-attr]


async def test_replicas_starting_at_once_seed_one_version(store: Store) -> None:
    settings = config()
    await asyncio.gather(*(seed_tenant(settings, SPECS, store, "acme") for _ in range(6)))
    history, _ = await store.routing_history("acme", None, 10)
    assert [v.version for v in history] == [1]


async def test_a_store_version_naming_an_agency_the_file_no_longer_credits_stops_the_start(
    store: Store,
) -> None:
    runtime = await start(config(), store)
    await TenantService(runtime).update("acme", TenantUpdate(default_agency="y", reason="switch"), '"1"', OPS)
    document = routing_document()
    document["tenants"]["acme"]["credentials"].pop("y")
    with pytest.raises(
        ConfigError, match=r"tenants\.acme\.default_agency: routing version 2 .*'y' has no credentials"
    ):
        await start(routing_settings(SPECS, document), store)


async def test_the_running_gateway_starts_from_the_store_and_keeps_api_changes_across_a_restart() -> None:
    """Two gateway processes in turn on one store (the embedded store stands in for Redis here)."""
    shared = MemoryStore()
    document = routing_document()
    document["store_url"] = "memory://"
    with running_gateway(copy.deepcopy(document), worker=False, store=shared) as first:
        async with httpx.AsyncClient(base_url=first.base_url) as http:
            read = await http.get("/v1/admin/tenants/acme", headers=bearer())
            changed = await http.put(
                "/v1/admin/tenants/acme",
                json={"default_agency": "y", "reason": "switch"},
                headers=bearer(**{"If-Match": read.headers["etag"]}),
            )
            assert changed.status_code == 200
    with running_gateway(copy.deepcopy(document), worker=False, store=shared) as second:
        async with httpx.AsyncClient(base_url=second.base_url) as http:
            read = await http.get("/v1/admin/tenants/acme", headers=bearer())
            assert (read.json()["version"], read.json()["default_agency"]) == (2, "y")
