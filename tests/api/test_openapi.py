"""The OpenAPI 3.1 document holds every resource of api.md, with request schemas; docs and health answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.sandbox_kit import RunningServer, serve_in_thread
from canonical.problems import CODES
from gateway.app import create_app
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import gateway_settings

T = "/v1/tenants/{}"
CLAIM = T + "/claims/{}"

#: Every (method, path) of api.md, path parameters written as {} (their names are the document's).
RESOURCES: list[tuple[str, str]] = [
    ("post", T + "/claims"),
    ("get", T + "/claims"),
    ("get", CLAIM),
    ("get", CLAIM + "/invoices"),
    ("get", CLAIM + "/payments"),
    ("post", CLAIM + "/payments"),
    ("post", CLAIM + "/payments/{}/reversal"),
    ("post", CLAIM + "/credit-notes"),
    ("post", CLAIM + "/withdrawal"),
    ("get", T + "/operations/{}"),
    ("get", T + "/operations"),
    ("get", T + "/events"),
    ("get", "/v1/agencies"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/v1/admin/tenants/{}"),
    ("put", "/v1/admin/tenants/{}"),
    ("get", "/v1/admin/tenants/{}/routing/history"),
    ("post", "/v1/admin/tenants/{}/routing/preview"),
    ("post", "/v1/admin/api-keys"),
    ("get", "/v1/admin/api-keys"),
    ("delete", "/v1/admin/api-keys/{}"),
]

#: Writes and the body schema each takes (api.md "The claim" and the follow-up bodies).
WRITE_BODIES: dict[tuple[str, str], str] = {
    ("post", T + "/claims"): "ClaimCreate",
    ("post", CLAIM + "/payments"): "PaymentReport",
    ("post", CLAIM + "/payments/{}/reversal"): "PaymentReversal",
    ("post", CLAIM + "/credit-notes"): "CreditNoteCreate",
    ("post", CLAIM + "/withdrawal"): "Withdrawal",
    ("post", "/v1/admin/tenants/{}/routing/preview"): "ClaimCreate",
    ("post", "/v1/admin/api-keys"): "ApiKeyCreate",
}
OPERATION_WRITES = [write for write in WRITE_BODIES if write[1].startswith(T)]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    specs = {"fake": fake_spec(FakeAgency())}
    running = serve_in_thread(create_app(gateway_settings(specs), specs=specs))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def document(server: RunningServer) -> dict[str, Any]:
    # No Authorization header: the contract is public.
    response = httpx.get(f"{server.base_url}/v1/openapi.json", timeout=30)
    assert response.status_code == 200
    assert "json" in response.headers["content-type"]
    body: dict[str, Any] = response.json()
    return body


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, _shape(path)): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "delete", "patch")
    }


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The component schemas a body schema stands for ($ref, allOf/oneOf/anyOf wrappers; null left out)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return [{"name": name, **document["components"]["schemas"][name]}]
    found: list[dict[str, Any]] = []
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            found += _resolve(document, part)
    return found


def test_the_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]


@pytest.mark.parametrize(("method", "path"), RESOURCES, ids=[f"{m} {p}" for m, p in RESOURCES])
def test_every_resource_of_api_md_is_in_the_document(
    document: dict[str, Any], method: str, path: str
) -> None:
    operations = _operations(document)
    assert (method, path) in operations, f"{method.upper()} {path} is missing from the OpenAPI document"
    operation = operations[(method, path)]
    assert operation.get("operationId")
    assert any(code.startswith("2") for code in operation["responses"]), operation["responses"]


@pytest.mark.parametrize(("write", "schema"), list(WRITE_BODIES.items()), ids=[p for _, p in WRITE_BODIES])
def test_every_write_declares_its_json_request_body(
    document: dict[str, Any], write: tuple[str, str], schema: str
) -> None:
    body = _operations(document)[write].get("requestBody")
    assert body, f"{write} has no request body"
    schemas = _resolve(document, body["content"]["application/json"]["schema"])
    assert [s["name"] for s in schemas] == [schema]
    assert schemas[0]["type"] == "object" and schemas[0]["properties"]


@pytest.mark.parametrize("write", OPERATION_WRITES, ids=[p for _, p in OPERATION_WRITES])
def test_every_claim_write_documents_202_and_its_problems(
    document: dict[str, Any], write: tuple[str, str]
) -> None:
    responses = _operations(document)[write]["responses"]
    accepted = responses["202"]["content"]["application/json"]["schema"]
    assert [s["name"] for s in _resolve(document, accepted)] == ["Operation"]
    params = {p["name"].lower() for p in _operations(document)[write].get("parameters", [])}
    assert "idempotency-key" in params
    for status in ("400", "401", "403", "404", "409", "413", "422", "503"):
        problem = responses[status]["content"]["application/problem+json"]["schema"]
        assert [s["name"] for s in _resolve(document, problem)] == ["Problem"], status


def test_money_is_an_integer_of_minor_units_never_a_number(document: dict[str, Any]) -> None:
    money = document["components"]["schemas"]["Money"]
    assert money["properties"]["amount"]["type"] == "integer"
    assert money["properties"]["amount"]["minimum"] == 0
    assert money["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"
    assert set(money["required"]) == {"amount", "currency"}


def test_the_claim_body_schema_requires_what_api_md_requires(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert set(schemas["ClaimCreate"]["required"]) >= {"client_reference", "currency", "debtor", "invoices"}
    assert schemas["ClaimCreate"]["properties"]["invoices"]["minItems"] == 1
    assert set(schemas["InvoiceCreate"]["required"]) >= {"number", "issued_on", "due_on", "amount"}
    # E.164 is in the contract (on the string, or beside a string|null union: both mean the same).
    assert "^\\+[1-9][0-9]{1,14}$" in _patterns(schemas["Debtor"]["properties"]["phone"])


def _patterns(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        own = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return own.union(*(_patterns(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_patterns(value) for value in schema))
    return set()


def test_the_problem_schema_has_the_rfc_9457_members_and_pointers(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) >= {"type", "title", "status", "detail", "instance", "code", "errors"}
    assert set(document["components"]["schemas"]["FieldError"]["properties"]) == {"pointer", "detail"}


def test_lists_document_cursor_pagination(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for path in (T + "/claims", CLAIM + "/invoices", CLAIM + "/payments", T + "/operations", T + "/events"):
        params = {p["name"]: p for p in operations[("get", path)]["parameters"]}
        assert {"limit", "cursor"} <= set(params), path
        limit = params["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"]) == (1, 100), path


def test_the_api_key_is_a_bearer_security_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
    assert document["security"]


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        operation["operationId"] for operation in _operations(document).values() if "operationId" in operation
    ]
    assert len(ids) == len(set(ids))


async def test_docs_answer_200_with_html(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        response = await http.get("/docs")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")


async def test_health_live_and_ready_answer_200_on_the_memory_store(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        for path in ("/health/live", "/health/ready"):
            response = await http.get(path)
            assert response.status_code == 200, (path, response.text)
            assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("write", OPERATION_WRITES, ids=[p for _, p in OPERATION_WRITES])
def test_writes_declare_the_key_required_and_the_answers_of_prefer_wait(
    document: dict[str, Any], write: tuple[str, str]
) -> None:
    operation = _operations(document)[write]
    key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert key["required"] is True
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
    finals = {"200", "201"} if write[1] == T + "/claims" else {"200"}
    for status in {"202", *finals}:
        response = operation["responses"][status]
        schema = response["content"]["application/json"]["schema"]
        assert [s["name"] for s in _resolve(document, schema)] == ["Operation"], status
        assert {"Location", "Idempotent-Replayed", "X-Request-Id"} <= set(response["headers"]), status
    assert "201" in operation["responses"] or write[1] != T + "/claims"


def test_every_answer_declares_x_request_id_and_retry_after_where_it_applies(
    document: dict[str, Any],
) -> None:
    for (method, path), operation in _operations(document).items():
        for status, response in operation["responses"].items():
            assert "X-Request-Id" in response.get("headers", {}), (method, path, status)
            if status in ("429", "503"):
                assert "Retry-After" in response["headers"], (method, path, status)


def test_optional_parameters_are_not_nullable(document: dict[str, Any]) -> None:
    for (method, path), operation in _operations(document).items():
        for parameter in operation.get("parameters", []):
            schema = json.dumps(parameter["schema"])
            assert '"null"' not in schema and "null]" not in schema, (method, path, parameter)


def test_component_names_are_plain_type_names(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    assert {"ClaimPage", "OperationPage", "ApiKeyViewPage"} <= names
    assert all(re.fullmatch(r"[A-Za-z0-9]+", name) for name in names), sorted(names)


@pytest.mark.parametrize("schema", sorted(set(WRITE_BODIES.values()) | {"Money", "Debtor", "Address"}))
def test_request_bodies_refuse_unknown_members(document: dict[str, Any], schema: str) -> None:
    assert document["components"]["schemas"][schema]["additionalProperties"] is False


def test_response_documents_stay_open_to_new_members(document: dict[str, Any]) -> None:
    for schema in ("Claim", "Operation", "Problem", "ClaimPage"):
        assert "additionalProperties" not in document["components"]["schemas"][schema]


def test_the_problem_schema_names_every_code_api_md_lists(document: dict[str, Any]) -> None:
    code = document["components"]["schemas"]["Problem"]["properties"]["code"]
    listed = set(code["examples"])
    assert set(CODES) <= listed
    # api.md names these (Writes are operations; Details the tests rely on; capabilities).
    assert {
        "idempotency_key_missing",
        "idempotency_in_progress",
        "idempotency_key_reused",
        "idempotency_key_invalid",
        "duplicate_client_reference",
        "malformed_json",
        "invalid_parameter",
        "invalid_cursor",
        "validation_failed",
        "unsupported_by_agency",
        "agency_rejected",
        "agency_unavailable",
        "agency_rate_limited",
    } <= listed
    assert all(f"`{c}`" in code["description"] for c in listed)


def test_the_admin_key_list_is_a_page(document: dict[str, Any]) -> None:
    operation = _operations(document)[("get", "/v1/admin/api-keys")]
    assert {"limit", "cursor"} <= {p["name"] for p in operation["parameters"]}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    [schema] = _resolve(document, page)
    assert set(schema["properties"]) == {"data", "has_more", "next_cursor"}


async def test_docs_and_the_json_serve_the_same_polished_document(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        ours = (await http.get("/v1/openapi.json")).json()
        docs = (await http.get("/docs/openapi.json")).json()
        assert ours == docs


def test_every_list_answers_the_page_shape(document: dict[str, Any]) -> None:
    """api.md Conventions: `{"data": [...], "has_more", "next_cursor"}`, whatever the list."""
    for (method, path), operation in _operations(document).items():
        content = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if method != "get" or not content:
            continue
        for schema in _resolve(document, content["schema"]):
            if schema.get("properties", {}).get("data", {}).get("type") == "array":
                assert {"has_more", "next_cursor"} <= set(schema["properties"]), (path, schema["name"])
