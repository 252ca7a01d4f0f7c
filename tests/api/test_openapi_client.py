"""A client generated from the OpenAPI document (openapi-python-client) builds, imports and is typed.

One generation per session, in a tmp dir; each test is a regression test for a wart a generated
client had: an optional Idempotency-Key, untyped 201/200 answers of `Prefer: wait`, component
names with module paths, three enum classes per nullable filter, request bodies that accepted
unknown members, an admin key list without `has_more`. The last test drives the generated client
against a running gateway.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest

from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.openapi import served_document
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import TENANT_KEY, claim_body, gateway_settings

PACKAGE = "cg_generated_client"
#: operationId → the 2xx answers it must parse into a typed Operation.
WRITES = {
    "submit_claim": (200, 201, 202),
    "report_payment": (200, 202),
    "reverse_payment": (200, 202),
    "create_credit_note": (200, 202),
    "withdraw_claim": (200, 202),
}
LISTS = {
    "list_claims": "ClaimPage",
    "list_invoices": "InvoicePage",
    "list_payments": "PaymentPage",
    "list_operations": "OperationPage",
    "list_events": "EventPage",
    "routing_history": "RoutingHistoryEntryPage",
    "list_audit": "AuditEntryPage",
    "list_api_keys": "ApiKeyViewPage",
}
OPERATION = {
    "id": "op_1",
    "kind": "claim.create",
    "status": "succeeded",
    "claim_id": "clm_1",
    "agency": "fake",
    "agency_reference": "AG-1",
    "error": None,
    "created_at": "2026-11-25T10:00:00Z",
    "updated_at": "2026-11-25T10:00:01Z",
}


def _settings() -> tuple[Any, dict[str, Any]]:
    specs = {"fake": fake_spec(FakeAgency())}
    return gateway_settings(specs), specs


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    settings, specs = _settings()
    root = tmp_path_factory.mktemp("generated")
    spec_file = root / "openapi.json"
    spec_file.write_text(json.dumps(served_document(create_app(settings, specs=specs))))
    config = root / "config.yaml"
    config.write_text("post_hooks: []\n")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "openapi_python_client", "generate", "--path", spec_file),
            *("--meta", "none", "--output-path", root / PACKAGE, "--config", config),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _modules(package: ModuleType, sub: str) -> dict[str, ModuleType]:
    parent = importlib.import_module(f"{package.__name__}.{sub}")
    return {
        info.name.rpartition(".")[2]: importlib.import_module(info.name)
        for info in pkgutil.walk_packages(parent.__path__, parent.__name__ + ".")
        if not info.ispkg
    }


def _model(package: ModuleType, name: str) -> type[Any]:
    model: type[Any] = getattr(importlib.import_module(f"{package.__name__}.models"), name)
    return model


def test_every_module_of_the_generated_client_imports(generated: ModuleType) -> None:
    endpoints = _modules(generated, "api")
    models = _modules(generated, "models")
    assert set(WRITES) | set(LISTS) <= set(endpoints)
    assert {"claim", "claim_create", "operation", "problem"} <= set(models)


@pytest.mark.parametrize("write", list(WRITES))
def test_writes_require_an_idempotency_key(generated: ModuleType, write: str) -> None:
    endpoint = _modules(generated, "api")[write]
    for function in (endpoint.sync_detailed, endpoint.asyncio_detailed):
        parameter = inspect.signature(function).parameters["idempotency_key"]
        assert parameter.default is inspect.Parameter.empty
        assert parameter.annotation in ("str", str)


@pytest.mark.parametrize(("write", "statuses"), list(WRITES.items()))
def test_every_answer_of_a_write_parses_into_a_typed_operation(
    generated: ModuleType, write: str, statuses: tuple[int, ...]
) -> None:
    endpoint = _modules(generated, "api")[write]
    client = generated.AuthenticatedClient(base_url="http://gateway.invalid", token="k")
    operation = _model(generated, "Operation")
    for status in statuses:
        parsed = endpoint._parse_response(client=client, response=httpx.Response(status, json=OPERATION))
        assert isinstance(parsed, operation), (write, status)


@pytest.mark.parametrize(("read", "page"), list(LISTS.items()))
def test_every_list_parses_into_a_named_page_with_a_cursor(
    generated: ModuleType, read: str, page: str
) -> None:
    endpoint = _modules(generated, "api")[read]
    client = generated.AuthenticatedClient(base_url="http://gateway.invalid", token="k")
    answer = {"data": [], "has_more": True, "next_cursor": "abc"}
    parsed = endpoint._parse_response(client=client, response=httpx.Response(200, json=answer))
    assert type(parsed).__name__ == page
    assert parsed.has_more is True and parsed.next_cursor == "abc"


def test_component_names_carry_no_module_paths(generated: ModuleType) -> None:
    models = _modules(generated, "models")
    assert not [name for name in models if "canonical" in name or "gateway" in name]


def test_one_enum_class_per_filter(generated: ModuleType) -> None:
    models = _modules(generated, "models")
    for prefix in ("list_claims_status", "list_operations_status", "list_operations_kind"):
        assert [name for name in models if name.startswith(prefix)] == [prefix]


@pytest.mark.parametrize(
    "body", ["ClaimCreate", "PaymentReport", "PaymentReversal", "CreditNoteCreate", "Withdrawal", "Money"]
)
def test_request_bodies_offer_no_additional_properties(generated: ModuleType, body: str) -> None:
    assert "additional_properties" not in attrs.fields_dict(_model(generated, body))


def test_the_generated_client_submits_a_claim_and_reads_the_typed_201(generated: ModuleType) -> None:
    settings, specs = _settings()
    server: RunningServer = serve_in_thread(create_app(settings, specs=specs))
    try:
        submit = _modules(generated, "api")["submit_claim"]
        body = _model(generated, "ClaimCreate").from_dict(claim_body(f"GEN-{uuid.uuid4().hex[:8]}"))
        with generated.AuthenticatedClient(base_url=server.base_url, token=TENANT_KEY) as client:
            answer = submit.sync_detailed(
                "acme", client=client, body=body, idempotency_key=str(uuid.uuid4()), prefer="wait=10"
            )
        assert answer.status_code == 201, answer.content
        assert isinstance(answer.parsed, _model(generated, "Operation"))
        assert answer.parsed.status.value == "succeeded"
        assert answer.headers["location"].endswith(f"/operations/{answer.parsed.id}")
    finally:
        server.stop()
