"""Reads at scale against Intrum's documented limits (100/min, 10,000/day per client id): three API
replicas on one Redis, 32 clients reading claims, no 5xx and not one agency call on the request
path; only `?refresh=true` spends the budget, and at most its sync share of it."""

from __future__ import annotations

import asyncio
import collections
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.intrum import SPEC as INTRUM
from adapters.sandbox_kit import ASGIApp, RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.demo import DEMO_KEYS, demo_document
from gateway.settings import settings_from_mapping
from tests.conftest import REDIS_URL
from tests.e2e.test_agencies_through_gateway import claim

pytestmark = pytest.mark.e2e

#: What the gateway's claim reads would call at Intrum (the request path, if it still proxied).
READ_PATHS = ("/portfolio/query", "/invoices/query")


def counting(app: ASGIApp, seen: collections.Counter[str]) -> ASGIApp:
    """The sandbox, counting the requests it gets by path."""

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen[scope["path"]] += 1
        await app(scope, receive, send)

    return counted


class Replicas:
    def __init__(self, gateways: list[RunningServer], seen: collections.Counter[str]) -> None:
        self.gateways = gateways
        self.seen = seen

    def agency_reads(self) -> int:
        return sum(count for path, count in self.seen.items() if path.endswith(READ_PATHS))


@pytest.fixture
def replicas(redis_prefix: str) -> Iterator[Replicas]:
    assert INTRUM.sandbox is not None
    seen: collections.Counter[str] = collections.Counter()
    sandbox = serve_in_thread(counting(INTRUM.sandbox.create_app(), seen))  # documented limits
    specs = {"intrum": INTRUM}
    document, secrets = demo_document(specs, {"intrum": sandbox.base_url}, store_url=REDIS_URL)
    document["store_prefix"] = redis_prefix
    document["agencies"]["intrum"]["poll_interval_seconds"] = 0.3
    gateways = []
    try:
        for index in range(3):  # one worker among the three API replicas, as deployed
            replica = {**document, "run_worker": index == 0}
            gateways.append(
                serve_in_thread(create_app(settings_from_mapping(replica, secrets, specs), specs=specs))
            )
        yield Replicas(gateways, seen)
    finally:
        for gateway in gateways:
            gateway.stop()
        sandbox.stop()


def auth(**extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {DEMO_KEYS['acme']}", **extra}


async def test_32_clients_on_3_replicas_read_claims_without_5xx_or_agency_calls(replicas: Replicas) -> None:
    clients = [httpx.AsyncClient(base_url=g.base_url, timeout=30) for g in replicas.gateways]
    try:
        claim_ids = []
        for _ in range(4):
            created = await clients[0].post(
                "/v1/tenants/acme/claims",
                json=claim(invoices=3),
                headers=auth(**{"Idempotency-Key": uuid.uuid4().hex, "Prefer": "wait=20"}),
            )
            assert created.status_code == 201, created.text
            claim_ids.append(created.json()["claim_id"])
        before = replicas.agency_reads()
        statuses: collections.Counter[int] = collections.Counter()
        targets = itertools.cycle(
            [
                (c, f"/v1/tenants/acme/claims/{i}{suffix}")
                for c in clients
                for i in claim_ids
                for suffix in ("", "/invoices")
            ]
        )
        deadline = asyncio.get_running_loop().time() + 3.0  # reads spend no budget: a few seconds show it

        async def user() -> None:
            while asyncio.get_running_loop().time() < deadline:
                client, path = next(targets)
                statuses[(await client.get(path, headers=auth())).status_code] += 1

        await asyncio.gather(*(user() for _ in range(32)))
        assert set(statuses) == {200}, statuses
        assert sum(statuses.values()) > 300
        assert replicas.agency_reads() == before  # not one agency call on the request path
        read = (await clients[1].get(f"/v1/tenants/acme/claims/{claim_ids[0]}", headers=auth())).json()
        assert read["status"] == "active" and read["synced_at"] is not None
    finally:
        for client in clients:
            await client.aclose()


async def test_refresh_spends_at_most_the_sync_share_and_then_answers_503_with_retry_after(
    replicas: Replicas,
) -> None:
    async with httpx.AsyncClient(base_url=replicas.gateways[1].base_url, timeout=30) as client:
        created = await client.post(
            "/v1/tenants/acme/claims",
            json=claim(invoices=1),
            headers=auth(**{"Idempotency-Key": uuid.uuid4().hex, "Prefer": "wait=20"}),
        )
        assert created.status_code == 201, created.text
        url = f"/v1/tenants/acme/claims/{created.json()['claim_id']}?refresh=true"
        reads_before = replicas.agency_reads()
        answers = []
        for _ in range(30):  # half of 100/min, a tenth of it at once: the share runs out quickly
            response = await client.get(url, headers=auth())
            answers.append(response)
            if response.status_code != 200:
                break
        refused = answers[-1]
        assert refused.status_code == 503, [a.status_code for a in answers]
        assert refused.json()["code"] == "agency_rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        # The worker's change feed draws on the same share, so how many refreshes still found
        # budget depends on when it last read; what they spent never exceeds the share's burst.
        assert len(answers) - 1 <= 10
        assert replicas.agency_reads() - reads_before <= 2 * (len(answers) - 1)
        # Plain reads go on, from the ledger.
        plain = await client.get(url.removesuffix("?refresh=true"), headers=auth())
        assert plain.status_code == 200 and plain.json()["synced_at"] is not None
