"""Accepting writes through the API and driving the test's worker until they are final."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway.worker import Worker
from tests.support.agencies import headers

FINAL = ("succeeded", "failed")


async def accept(api: httpx.AsyncClient, tenant: str, path: str, body: dict[str, Any]) -> str:
    """POST a write; the id of the accepted (202) operation."""
    response = await api.post(f"/v1/tenants/{tenant}{path}", json=body, headers=headers(tenant))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def operation(api: httpx.AsyncClient, tenant: str, operation_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/tenants/{tenant}/operations/{operation_id}", headers=headers(tenant))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def settle(
    api: httpx.AsyncClient, worker: Worker, tenant: str, operation_id: str, timeout: float = 20.0
) -> dict[str, Any]:
    """Deliver and poll (as the running worker would) until the operation is final."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await worker.deliver_once()
        await worker.poll_once(force=True)
        found = await operation(api, tenant, operation_id)
        if found["status"] in FINAL:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"still {found['status']}: {found}"
        await asyncio.sleep(0.02)


async def active_claim(
    api: httpx.AsyncClient, worker: Worker, tenant: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A claim submitted and confirmed by its agency (the operation succeeded)."""
    operation_id = await accept(api, tenant, "/claims", body)
    done = await settle(api, worker, tenant, operation_id)
    assert done["status"] == "succeeded", done
    return done
