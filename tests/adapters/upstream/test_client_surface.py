"""The client's surface: injected transports, metrics, and the package's exports."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client import REGISTRY

import adapters._upstream
from adapters._upstream import BearerAuth, OAuth2ClientCredentials, tally
from adapters._upstream.breaker import State
from adapters._upstream.metrics import agency_route
from canonical.problems import AgencyRejected, AgencyUnavailable
from tests.adapters.upstream._agency import CREDENTIAL, Agency, Answer, create_app
from tests.adapters.upstream.conftest import MakeClient

AUTH = BearerAuth(token="static-token")


def _sample(name: str, **labels: str) -> float:
    tally.flush()  # calls are counted in batches, as a scrape would see them
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_injected_asgi_transport_reaches_the_app_in_process_tokens_included(
    make_client: MakeClient,
) -> None:
    agency = Agency()
    oauth = OAuth2ClientCredentials(token_url="http://agency.test/token", client_id="c", client_secret="s")
    client = make_client(base_url="http://agency.test", transport=httpx.ASGITransport(app=create_app(agency)))

    answer = await client.request("GET", "/items/9", credential=CREDENTIAL, auth=oauth)

    assert answer.json(dict) == {"id": "9"}
    assert agency.token_requests == 1
    assert agency.calls[0].authorization == "Bearer token-1"


async def test_calls_are_counted_by_agency_and_status_and_timed(
    agency: Agency, make_client: MakeClient
) -> None:
    name = f"metrics-{uuid.uuid4().hex[:6]}"
    client = make_client(agency=name, retry_attempts=1)
    agency.answer_next(Answer(422, {"message": "no"}))

    with pytest.raises(AgencyRejected):
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    await client.request("GET", "/items/2", credential=CREDENTIAL, auth=AUTH)

    route = "/items/{id}"  # the ids in the path are not labels
    assert _sample("cg_upstream_requests_total", agency=name, route=route, status="422") == 1
    assert _sample("cg_upstream_requests_total", agency=name, route=route, status="200") == 1
    assert _sample("cg_upstream_request_seconds_count", agency=name, route=route) == 2
    assert _sample("cg_upstream_rate_slots_total", agency=name, tenant=CREDENTIAL.tenant) == 2


def test_agency_routes_keep_words_and_hide_ids_and_references() -> None:
    assert agency_route("/portfolio/statusUpdate") == "/portfolio/statusUpdate"
    assert agency_route("/claims/4711/accountingDocuments/cancellations") == (
        "/claims/{id}/accountingDocuments/cancellations"
    )
    tenant = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    assert agency_route(f"/v1/{tenant}/customers/by-reference-id/anna?x=1") == (
        "/v1/{id}/customers/by-reference-id/{id}"
    )
    assert agency_route("/v1/x/cases/Muster%20Anna") == "/v1/x/cases/{id}"


async def test_breaker_state_and_rate_limit_waits_are_exported(
    agency: Agency, make_client: MakeClient
) -> None:
    name = f"metrics-{uuid.uuid4().hex[:6]}"
    client = make_client(agency=name, retry_attempts=1, breaker_threshold=1, rate_limits=[(1, 0.2)])

    await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    agency.answer_next(Answer(503))
    with pytest.raises(AgencyUnavailable):
        await client.request("GET", "/items/2", credential=CREDENTIAL, auth=AUTH)  # waits ~0.2 s for its slot

    assert _sample("cg_upstream_breaker_state", agency=name) == State.OPEN
    assert _sample("cg_upstream_rate_limit_wait_seconds_count", agency=name) == 1
    assert _sample("cg_upstream_rate_limit_wait_seconds_sum", agency=name) >= 0.15


def test_package_exports_are_sorted_and_complete() -> None:
    exported = adapters._upstream.__all__
    public = {
        name
        for name, value in vars(adapters._upstream).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("adapters._upstream")
    }

    assert exported == sorted(exported)
    assert public <= set(exported)
