"""Config keys: stable ids from the key's hash; the file's current keys are the only config keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from gateway.stores import MemoryStore, Store
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import ADMIN_KEY, gateway_settings, sha

OLD, NEW, SECOND = "acme-old-key", "acme-new-key", "acme-second-key"


def _key(secret: str, name: str) -> dict[str, Any]:
    return {"name": name, "tenant": "acme", "scopes": ["claims:read"], "key_sha256": sha(secret)}


@contextmanager
def _gateway(store: Store, *secrets: str) -> Iterator[str]:
    specs = {"fake": fake_spec(FakeAgency())}
    keys = [_key(s, f"key {i}") for i, s in enumerate(secrets)]
    admin = {"name": "ops", "scopes": ["admin"], "key_sha256": sha(ADMIN_KEY)}
    settings = gateway_settings(specs, run_worker=False, api_keys=[*keys, admin])
    server = serve_in_thread(create_app(settings, store=store, specs=specs))
    try:
        yield server.base_url
    finally:
        server.stop()


def _status(base: str, secret: str) -> int:
    answer = httpx.get(f"{base}/v1/tenants/acme/claims", headers={"Authorization": f"Bearer {secret}"})
    return answer.status_code


def test_a_key_replaced_in_the_file_stops_working_at_the_next_start() -> None:
    store = MemoryStore()
    with _gateway(store, OLD) as base:
        assert _status(base, OLD) == 200
    with _gateway(store, NEW) as base:
        assert _status(base, NEW) == 200
        assert _status(base, OLD) == 401
        keys = httpx.get(f"{base}/v1/admin/api-keys", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert sorted(k["name"] for k in keys.json()["data"] if k["source"] == "config") == ["key 0", "ops"]


def test_config_key_ids_are_stable_and_revoking_one_revokes_exactly_that_key() -> None:
    store = MemoryStore()
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with _gateway(store, OLD, SECOND) as base:
        listed = httpx.get(f"{base}/v1/admin/api-keys", headers=admin).json()["data"]
        first = {k["name"]: k["id"] for k in listed}
    with _gateway(store, SECOND, OLD) as base:  # reordered in the file: same ids
        listed = httpx.get(f"{base}/v1/admin/api-keys", headers=admin).json()["data"]
        ids = {k["id"] for k in listed}
        assert set(first.values()) == ids
        assert len(ids) == 3
        old_id = first["key 0"]
        assert httpx.delete(f"{base}/v1/admin/api-keys/{old_id}", headers=admin).status_code == 204
        assert _status(base, OLD) == 401
        assert _status(base, SECOND) == 200
