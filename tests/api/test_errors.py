"""The HTTP error surface: every error is an RFC 9457 problem with a stable code, over real HTTP."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from adapters.base import AdapterContext, AdapterSpec, AgencyClaim, ClaimRef, Credential
from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from tests.support.fake_agency import FAKE_CAPABILITIES, FakeAdapter, FakeAgency, fake_spec
from tests.support.gateway import ADMIN_KEY, OTHER_KEY, READ_ONLY_KEY, auth, claim_body, gateway_settings

CLAIMS = "/v1/tenants/acme/claims"
PROBLEM_MEMBERS = {"type", "title", "status", "code", "instance"}


@pytest.fixture(scope="module")
def shared_server() -> Iterator[RunningServer]:
    """One gateway for the checks that leave nothing behind (a server start costs ~0.5 s)."""
    specs = {"fake": fake_spec(FakeAgency())}
    server = serve_in_thread(create_app(gateway_settings(specs), specs=specs))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def api(shared_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shared_server.base_url, timeout=30) as http:
        yield http


def key() -> str:
    """A fresh Idempotency-Key: requests on the shared gateway must not replay each other."""
    return uuid.uuid4().hex


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem: the media type, the members api.md promises, and our stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert set(problem) >= PROBLEM_MEMBERS, problem
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"https://collection-gateway.dev/problems/{code}"
    assert problem["title"]
    assert problem["instance"] == response.request.url.path
    return problem


async def _submitted_claim(client: httpx.AsyncClient, reference: str | None = None) -> str:
    """A claim the fake agency has confirmed (so reads go to the adapter)."""
    reference = reference or f"ORD-{key()[:12]}"
    response = await client.post(
        CLAIMS, json=claim_body(reference), headers=auth(idempotency_key=key(), Prefer="wait=5")
    )
    assert response.status_code == 201, response.text
    claim_id: str = response.json()["claim_id"]
    return claim_id


# --- 401 / 403 / 404 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "Bearer"},
        {"Authorization": "test-acme-key"},
    ],
    ids=["missing", "unknown", "basic", "empty", "no_scheme"],
)
async def test_a_request_without_a_valid_key_is_401_with_www_authenticate(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for response in (
        await api.get(CLAIMS, headers=headers),
        await api.get("/v1/agencies", headers=headers),
        await api.get("/v1/admin/api-keys", headers=headers),
    ):
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_a_write_without_a_key_is_401_before_its_body_is_judged(api: httpx.AsyncClient) -> None:
    response = await api.post(CLAIMS, json={"nonsense": True}, headers={"Idempotency-Key": key()})
    assert_problem(response, 401, "unauthorized")


async def test_an_admin_key_on_a_tenant_resource_is_403(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get(CLAIMS, headers=auth(ADMIN_KEY)), 403, "forbidden")
    assert_problem(await api.get("/v1/tenants/acme/events", headers=auth(ADMIN_KEY)), 403, "forbidden")
    write = await api.post(CLAIMS, json=claim_body(), headers=auth(ADMIN_KEY, idempotency_key=key()))
    assert_problem(write, 403, "forbidden")


async def test_a_read_only_key_writing_is_403(api: httpx.AsyncClient) -> None:
    response = await api.post(CLAIMS, json=claim_body(), headers=auth(READ_ONLY_KEY, idempotency_key=key()))
    assert_problem(response, 403, "forbidden")


async def test_a_tenant_key_on_admin_resources_is_403(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/admin/api-keys", headers=auth()), 403, "forbidden")
    assert_problem(await api.get("/v1/admin/tenants/acme", headers=auth()), 403, "forbidden")


async def test_another_tenants_claim_is_404_as_if_it_did_not_exist(api: httpx.AsyncClient) -> None:
    claim_id = await _submitted_claim(api)
    assert (await api.get(f"{CLAIMS}/{claim_id}", headers=auth())).status_code == 200
    # The other tenant asking for it under our tenant path, and under its own path.
    assert_problem(await api.get(f"{CLAIMS}/{claim_id}", headers=auth(OTHER_KEY)), 404, "not_found")
    foreign = await api.get(f"/v1/tenants/other/claims/{claim_id}", headers=auth(OTHER_KEY))
    missing = await api.get("/v1/tenants/other/claims/clm_doesnotexist", headers=auth(OTHER_KEY))
    assert_problem(foreign, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    # Never reveal existence: the same answer as for a claim that does not exist, but for its id.
    assert foreign.json() == json.loads(missing.text.replace("clm_doesnotexist", claim_id))
    for path in ("invoices", "payments"):
        response = await api.get(f"/v1/tenants/other/claims/{claim_id}/{path}", headers=auth(OTHER_KEY))
        assert_problem(response, 404, "not_found")
    write = await api.post(
        f"/v1/tenants/other/claims/{claim_id}/withdrawal",
        json={"reason": "by_client"},
        headers=auth(OTHER_KEY, idempotency_key=key()),
    )
    assert_problem(write, 404, "not_found")


async def test_another_tenants_operation_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post(CLAIMS, json=claim_body(f"OP-{key()[:8]}"), headers=auth(idempotency_key=key()))
    operation_id = response.json()["id"]
    foreign = await api.get(f"/v1/tenants/other/operations/{operation_id}", headers=auth(OTHER_KEY))
    assert_problem(foreign, 404, "not_found")


async def test_a_tenant_the_key_does_not_belong_to_is_404(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/tenants/other/claims", headers=auth()), 404, "not_found")
    assert_problem(await api.get("/v1/tenants/nobody/operations", headers=auth()), 404, "not_found")


UNKNOWN_ROUTES = ["/v1/nothing-here", "/v2/tenants/acme/claims", "/", "/v1/tenants/acme/claims/x/y/z"]


@pytest.mark.parametrize("path", UNKNOWN_ROUTES)
async def test_an_unknown_route_is_a_404_problem(api: httpx.AsyncClient, path: str) -> None:
    assert_problem(await api.get(path, headers=auth()), 404, "not_found")


# --- 405 / 413 / 400 ------------------------------------------------------------------------------

WRONG_METHODS = [
    ("DELETE", CLAIMS),
    ("PUT", CLAIMS + "/clm_1"),
    ("PATCH", "/v1/tenants/acme/operations/op_1"),
    ("POST", "/health/live"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
async def test_a_wrong_method_is_405_naming_the_allowed_ones(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await api.request(method, path, headers=auth(idempotency_key=key()))
    assert_problem(response, 405, "method_not_allowed")
    # RFC 9110 15.5.6: a 405 says which methods the resource takes.
    assert "GET" in response.headers["allow"]


@pytest.fixture
def small_body_server(agency: FakeAgency) -> Iterator[RunningServer]:
    specs = {"fake": fake_spec(agency)}
    server = serve_in_thread(create_app(gateway_settings(specs, max_body_bytes=2048), specs=specs))
    try:
        yield server
    finally:
        server.stop()


async def test_a_body_over_max_body_bytes_is_413_and_nothing_is_stored(
    small_body_server: RunningServer, agency: FakeAgency
) -> None:
    big = claim_body("BIG")
    big["invoices"] = [
        {**big["invoices"][0], "number": f"INV-{i}", "references": {"note": "x" * 150}} for i in range(20)
    ]
    assert len(json.dumps(big)) > 2048
    async with httpx.AsyncClient(base_url=small_body_server.base_url, timeout=30) as http:
        response = await http.post(CLAIMS, json=big, headers=auth(idempotency_key="big"))
        assert_problem(response, 413, "request_too_large")
        # The limit is the configured one, not the default 1 MiB: a small claim still passes.
        small = await http.post(CLAIMS, json=claim_body("SMALL"), headers=auth(idempotency_key="small"))
        assert small.status_code == 202, small.text
        listed = (await http.get(CLAIMS, headers=auth())).json()
        assert [c["client_reference"] for c in listed["data"]] == ["SMALL"]


async def test_a_body_over_the_limit_without_content_length_is_413(small_body_server: RunningServer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    async with httpx.AsyncClient(base_url=small_body_server.base_url, timeout=30) as http:
        headers = auth(idempotency_key="chunked", **{"Content-Type": "application/json"})
        response = await http.post(CLAIMS, content=chunks(), headers=headers)
        assert "content-length" not in response.request.headers
        assert_problem(response, 413, "request_too_large")


async def test_the_default_body_limit_is_one_mebibyte(api: httpx.AsyncClient) -> None:
    body = claim_body(f"MIB-{key()[:8]}")
    body["debtor"]["address"]["street"] = "x" * 200
    padding = b" " * (1024 * 1024)
    raw = json.dumps(body).encode() + padding
    response = await api.post(
        CLAIMS, content=raw, headers=auth(idempotency_key=key(), **{"Content-Type": "application/json"})
    )
    assert_problem(response, 413, "request_too_large")


@pytest.mark.parametrize(
    "body", [b"{", b'{"client_reference": "A",', b"not json", b"\xff\xfe", b'{"a": 1} trailing', b""]
)
async def test_malformed_json_is_400_malformed_json(api: httpx.AsyncClient, body: bytes) -> None:
    headers = auth(idempotency_key=key(), **{"Content-Type": "application/json"})
    response = await api.post(CLAIMS, content=body, headers=headers)
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
async def test_a_limit_outside_1_to_100_is_400_invalid_parameter(api: httpx.AsyncClient, limit: str) -> None:
    for path in (CLAIMS, "/v1/tenants/acme/operations", "/v1/tenants/acme/events"):
        response = await api.get(path, params={"limit": limit}, headers=auth())
        problem = assert_problem(response, 400, "invalid_parameter")
        assert "limit" in problem["detail"]


async def test_limits_1_and_100_are_accepted(api: httpx.AsyncClient) -> None:
    for limit in ("1", "100"):
        assert (await api.get(CLAIMS, params={"limit": limit}, headers=auth())).status_code == 200


async def test_a_bad_filter_value_is_400_invalid_parameter(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get(CLAIMS, params={"status": "lost"}, headers=auth()), 400, "invalid_parameter")
    response = await api.get(CLAIMS, params={"created_after": "yesterday"}, headers=auth())
    assert_problem(response, 400, "invalid_parameter")


@pytest.mark.parametrize("cursor", ["forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "2", "%%%"])
async def test_a_forged_cursor_is_400_invalid_cursor(api: httpx.AsyncClient, cursor: str) -> None:
    for path in (CLAIMS, "/v1/tenants/acme/operations", "/v1/tenants/acme/events"):
        response = await api.get(path, params={"cursor": cursor}, headers=auth())
        assert_problem(response, 400, "invalid_cursor")


async def test_a_cursor_of_another_list_or_tenant_is_400_invalid_cursor(client: httpx.AsyncClient) -> None:
    for reference in ("A", "B", "C"):
        await client.post(CLAIMS, json=claim_body(reference), headers=auth(idempotency_key=reference))
    page = (await client.get(CLAIMS, params={"limit": 1}, headers=auth())).json()
    cursor = page["next_cursor"]
    assert cursor and page["has_more"]
    assert (
        await client.get(CLAIMS, params={"limit": 1, "cursor": cursor}, headers=auth())
    ).status_code == 200
    for path, key_headers in (
        ("/v1/tenants/acme/operations", auth()),
        ("/v1/tenants/acme/events", auth()),
        ("/v1/tenants/other/claims", auth(OTHER_KEY)),
    ):
        response = await client.get(path, params={"cursor": cursor}, headers=key_headers)
        assert_problem(response, 400, "invalid_cursor")
    other_filter = await client.get(CLAIMS, params={"cursor": cursor, "status": "active"}, headers=auth())
    assert_problem(other_filter, 400, "invalid_cursor")


async def test_a_write_without_a_usable_idempotency_key_is_400(api: httpx.AsyncClient) -> None:
    assert_problem(await api.post(CLAIMS, json=claim_body(), headers=auth()), 400, "idempotency_key_missing")
    long_key = auth(idempotency_key="k" * 256)
    assert_problem(
        await api.post(CLAIMS, json=claim_body(), headers=long_key), 400, "idempotency_key_invalid"
    )


# --- 422 with pointers ----------------------------------------------------------------------------


def _pointers(problem: dict[str, Any]) -> list[str]:
    assert problem["errors"], problem
    assert all(error["detail"] for error in problem["errors"])
    return [error["pointer"] for error in problem["errors"]]


async def _refused_claim(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(CLAIMS, json=body, headers=auth(idempotency_key=key()))
    return assert_problem(response, 422, "validation_failed")


def _claim_with_amount(amount: Any, field: str = "amount") -> dict[str, Any]:
    body = claim_body(f"AMT-{key()[:8]}")
    body["invoices"][0][field]["amount"] = amount
    return body


@pytest.mark.parametrize("amount", [120.5, 0.01, 1e3 + 0.5])
async def test_a_fractional_float_amount_is_422_at_its_pointer(api: httpx.AsyncClient, amount: float) -> None:
    assert _pointers(await _refused_claim(api, _claim_with_amount(amount))) == ["/invoices/0/amount/amount"]


@pytest.mark.parametrize("amount", [120.0, 12000.0, 1e2])
async def test_a_float_amount_is_422_even_when_it_looks_whole(api: httpx.AsyncClient, amount: float) -> None:
    assert _pointers(await _refused_claim(api, _claim_with_amount(amount))) == ["/invoices/0/amount/amount"]


@pytest.mark.parametrize(
    "amount",
    [
        True,
        False,
        -1,
        10**15,
        None,
        [1],
        {"amount": 1},
        "12000",
    ],
)
async def test_an_amount_that_is_not_a_non_negative_integer_is_422(
    api: httpx.AsyncClient, amount: Any
) -> None:
    body = _claim_with_amount(amount, field="costs")
    assert _pointers(await _refused_claim(api, body)) == ["/invoices/0/costs/amount"]


@pytest.mark.parametrize(
    ("where", "pointer"),
    [
        ((), "/ammount"),
        (("debtor",), "/debtor/ammount"),
        (("debtor", "address"), "/debtor/address/ammount"),
        (("invoices", 0), "/invoices/0/ammount"),
        (("invoices", 0, "amount"), "/invoices/0/amount/ammount"),
    ],
)
async def test_an_unknown_field_is_422_at_its_pointer(
    api: httpx.AsyncClient, where: tuple[Any, ...], pointer: str
) -> None:
    body = claim_body(f"UNK-{key()[:8]}")
    target: Any = body
    for step in where:
        target = target[step]
    target["ammount"] = 1
    assert _pointers(await _refused_claim(api, body)) == [pointer]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda b: b["debtor"].update(phone="0041 44 123 45 67"), "/debtor/phone"),
        (lambda b: b["debtor"]["address"].update(country="XX"), "/debtor/address/country"),
        (lambda b: b["debtor"].update(language="xx"), "/debtor/language"),
        (lambda b: b["invoices"][0].update(due_on="2026-09-01"), "/invoices/0/due_on"),
        (lambda b: b["invoices"][0]["amount"].update(currency="CHF"), "/invoices/0/amount/currency"),
        (lambda b: b["invoices"][0]["amount"].update(amount=0), "/invoices/0/amount/amount"),
        (lambda b: b["invoices"].append(dict(b["invoices"][0])), "/invoices/1/number"),
        (lambda b: b["debtor"]["address"].pop("city"), "/debtor/address/city"),
        (lambda b: b.update(invoices=[]), "/invoices"),
    ],
    ids=[
        "phone",
        "country",
        "language",
        "due_before_issued",
        "currency",
        "zero",
        "duplicate",
        "missing_city",
        "no_invoices",
    ],
)
async def test_each_broken_claim_rule_is_422_at_its_pointer(
    api: httpx.AsyncClient, change: Any, pointer: str
) -> None:
    body = claim_body(f"RULE-{key()[:8]}")
    change(body)
    assert _pointers(await _refused_claim(api, body)) == [pointer]


async def test_a_refused_body_stores_nothing(client: httpx.AsyncClient, agency: FakeAgency) -> None:
    for amount in (0, 1.5, "abc"):
        await _refused_claim(client, _claim_with_amount(amount))
    assert (await client.get(CLAIMS, headers=auth())).json()["data"] == []
    assert (await client.get("/v1/tenants/acme/operations", headers=auth())).json()["data"] == []
    assert agency.calls == []


async def test_a_currency_the_agency_does_not_take_is_422_unsupported_by_agency(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post(CLAIMS, json=claim_body(currency="USD"), headers=auth(idempotency_key=key()))
    problem = assert_problem(response, 422, "unsupported_by_agency")
    assert problem["agency"] == "fake"


async def test_a_body_that_is_not_application_json_is_415(api: httpx.AsyncClient) -> None:
    response = await api.post(
        CLAIMS,
        content=json.dumps(claim_body(f"TXT-{key()[:8]}")),
        headers=auth(idempotency_key=key(), **{"Content-Type": "text/plain"}),
    )
    assert_problem(response, 415, "unsupported_media_type")


# --- 500 ------------------------------------------------------------------------------------------


class ExplodingAdapter(FakeAdapter):
    """An adapter with a bug: reading a claim raises something no boundary translates."""

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        raise RuntimeError("secret-internal-detail: adapter bug at line 42")


@pytest.fixture
async def exploding_client(agency: FakeAgency) -> AsyncIterator[httpx.AsyncClient]:
    def create(context: AdapterContext) -> ExplodingAdapter:
        return ExplodingAdapter(agency)

    specs = {
        "fake": AdapterSpec(
            name="fake", capabilities=FAKE_CAPABILITIES, create=create, credential_fields=("account_id",)
        )
    }
    server = serve_in_thread(create_app(gateway_settings(specs), specs=specs))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield http
    finally:
        server.stop()


async def test_an_unexpected_exception_is_a_500_problem_without_a_traceback(
    exploding_client: httpx.AsyncClient,
) -> None:
    claim_id = await _submitted_claim(exploding_client)
    # Plain reads come from the claim ledger; `refresh=true` asks the (buggy) adapter.
    response = await exploding_client.get(
        f"{CLAIMS}/{claim_id}?refresh=true", headers=auth(**{"X-Request-Id": "req-500"})
    )
    problem = assert_problem(response, 500, "internal_error")
    for leak in ("Traceback", "RuntimeError", "secret-internal-detail", "line 42", ".py", "File "):
        assert leak not in response.text, f"{leak!r} leaked into the 500 body"
    # The request id is what lets support find the logged traceback.
    assert response.headers["x-request-id"] == "req-500"
    assert "req-500" in problem["detail"]
    # The gateway keeps serving.
    assert (await exploding_client.get(CLAIMS, headers=auth())).status_code == 200


# --- X-Request-Id ---------------------------------------------------------------------------------


async def test_x_request_id_is_echoed_when_sent(api: httpx.AsyncClient) -> None:
    for path, headers in (
        ("/health/live", {}),
        (CLAIMS, auth()),
        (CLAIMS, {}),  # a 401
        (f"{CLAIMS}/clm_unknown", auth()),  # a 404 from a handler
        (CLAIMS + "?limit=0", auth()),  # a 400
    ):
        response = await api.get(path, headers={**headers, "X-Request-Id": "abc-123.X:9"})
        assert response.headers["x-request-id"] == "abc-123.X:9", path


async def test_x_request_id_is_generated_when_not_sent_and_differs_per_request(
    api: httpx.AsyncClient,
) -> None:
    first = (await api.get("/health/live")).headers["x-request-id"]
    second = (await api.get(CLAIMS)).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)  # a per-process random half and a counter
    assert first != second


@pytest.mark.parametrize("sent", [b"a" * 129, b"has space", b"semi;colon", "ünïcode".encode(), b""])
async def test_an_unusable_x_request_id_is_replaced_not_echoed(api: httpx.AsyncClient, sent: bytes) -> None:
    response = await api.get("/health/live", headers=[(b"X-Request-Id", sent)])
    assert response.headers["x-request-id"].encode() != sent
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", response.headers["x-request-id"])


@pytest.mark.parametrize(("method", "path"), [("GET", UNKNOWN_ROUTES[0]), WRONG_METHODS[0]])
async def test_router_level_errors_carry_x_request_id_too(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    sent = await api.request(method, path, headers={**auth(), "X-Request-Id": "router-1"})
    assert sent.headers.get("x-request-id") == "router-1"
    made = await api.request(method, path, headers=auth())
    assert made.headers.get("x-request-id")
