"""The out-of-tree example (examples/adapter-example, agency "skuld"): installed as a package, it
passes the conformance kit and a gateway routes a claim to it end to end — with no gateway code
changed. Everything runs in the overlay environment (see conftest.py), in real processes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sdk._imports import forbidden_imports
from tests.sdk.conftest import ROOT, Overlay
from tests.sdk.test_scaffold import SUITE_TESTS, junit, suite_outcomes
from tests.support.gateway import claim_body, invoice_bodies

EXAMPLE = ROOT / "examples" / "adapter-example"
KEY = "cg_example_acme"
DEADLINE = 30.0
#: Serves an installed agency's sandbox in the overlay and prints where, with the config sections
#: for it (and its refuse-invoice control, if it has one).
SANDBOX = """
import json, sys
from adapters.registry import discover
spec = discover()[sys.argv[1]]
from adapters.sandbox_kit import serve_in_thread
server = serve_in_thread(spec.sandbox.create_app())
print(json.dumps({"url": server.base_url, "agency": spec.sandbox.agency_config(server.base_url),
                  "credentials": spec.sandbox.credentials(), "secrets": spec.sandbox.secrets(),
                  "refuse": spec.sandbox.refuse_invoice_path}), flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture(scope="module")
def skuld_installed(overlay: Overlay, tmp_path_factory: pytest.TempPathFactory) -> Path:
    overlay.install(EXAMPLE, cwd=tmp_path_factory.mktemp("example"))
    return EXAMPLE


def test_the_example_imports_nothing_of_the_gateway_but_the_sdk() -> None:
    assert forbidden_imports(EXAMPLE / "src" / "skuld", "skuld") == []


def test_the_example_passes_the_conformance_kit_for_what_it_declares(
    skuld_installed: Path, overlay: Overlay, tmp_path: Path
) -> None:
    report = tmp_path / "report.xml"
    ran = overlay.run(
        "-m", "pytest", "-p", "collection_gateway.conformance", skuld_installed,
        "-p", "no:cacheprovider", "-q", f"--junitxml={report}",
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    outcomes = junit(report)
    assert "failed" not in outcomes.values()
    undeclared = {
        "test_a_reported_payment_can_be_reversed",  # no payment.reverse at Skuld
        "test_a_credit_note_lowers_the_invoices_remaining_amount",  # no credit_note.create
        "test_withdrawing_some_invoices_leaves_the_claim_open",  # no claim.withdraw_partial
        "test_a_claim_refused_for_one_invoice_is_partially_accepted",  # one case per claim
        # Skuld's document has no change feed: it declares no feeds
        "test_what_the_agency_does_on_its_own_comes_out_of_the_feed",
        "test_the_feed_read_again_gives_the_same_records_by_the_same_ids",
        "test_a_record_the_adapter_cannot_read_is_set_aside_and_the_feed_goes_on",
    }
    expected = {name: "skipped" if name in undeclared else "passed" for name in SUITE_TESTS}
    assert suite_outcomes(outcomes) == expected


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def skuld_sandbox(skuld_installed: Path, overlay: Overlay, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with sandbox_process(overlay, "skuld", tmp_path) as sandbox:
        yield sandbox


@contextlib.contextmanager
def sandbox_process(overlay: Overlay, agency: str, cwd: Path) -> Iterator[dict[str, Any]]:
    """An installed agency's sandbox in its own process: where it listens and its config sections."""
    process = overlay.popen("-c", SANDBOX, agency, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, "the sandbox did not start"
        yield json.loads(line)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the sandbox script stops its server when stdin ends
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()


def _config(sandbox: dict[str, Any]) -> str:
    agency = {
        **sandbox["agency"],
        "poll_interval_seconds": 0.05,
        # The sandbox is this test's alone: no need to pace calls at Skuld's published 120/min.
        "rate_limit_per_minute": 6000,
    }
    document = {
        "store_url": "memory://",
        "run_worker": True,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "claim_cache_seconds": 0,
        "log_level": "WARNING",
        "agencies": {"skuld": agency},
        "tenants": {"acme": {"default_agency": "skuld", "credentials": {"skuld": sandbox["credentials"]}}},
        "api_keys": [
            {
                "name": "acme",
                "tenant": "acme",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": hashlib.sha256(KEY.encode()).hexdigest(),
            }
        ],
    }
    return _toml(document)


def _toml(document: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for the document above (tables, arrays of tables, scalars, lists)."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in document.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            tables.append(f"\n[{name}]\n" + _toml(value, name))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            tables += [f"\n[[{name}]]\n" + _toml(item) for item in value]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "".join(tables) + "\n"


async def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_once_installed_the_example_is_listed_routed_to_and_serves_a_claim_end_to_end(
    skuld_sandbox: dict[str, Any], overlay: Overlay, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(_config(skuld_sandbox))
    port = _free_port()
    log = (tmp_path / "gateway.log").open("w")
    gateway = overlay.popen(
        "-m", "gateway.cli", "serve", "--config", config, "--port", str(port),
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=skuld_sandbox["secrets"],
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:

            async def ready() -> bool:
                assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
                try:
                    return (await http.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await _until(ready, "the gateway to start")

            # Listed, with the capabilities and currencies the package declares.
            agencies = {
                a["name"]: a for a in (await http.get("/v1/agencies", headers=headers)).json()["data"]
            }
            skuld = agencies["skuld"]
            assert skuld["configured"] is True
            assert skuld["currencies"] == ["DKK", "EUR", "NOK", "SEK"]
            assert skuld["capabilities"]["claim.create"] and skuld["capabilities"]["payments.list"]
            assert (
                not skuld["capabilities"]["payment.reverse"]
                and not skuld["capabilities"]["credit_note.create"]
            )

            # Routed to (the tenant's default agency), registered asynchronously, resolved by polling.
            invoices = invoice_bodies(3)
            body = claim_body("ORD-SKULD-1", invoices=invoices)
            accepted = await http.post(
                "/v1/tenants/acme/claims", json=body, headers={**headers, "Idempotency-Key": "skuld-1"}
            )
            assert accepted.status_code == 202, accepted.text
            location = accepted.headers["location"]

            async def delivered() -> dict[str, Any] | None:
                operation: dict[str, Any] = (await http.get(location, headers=headers)).json()
                assert operation["status"] != "failed", operation
                return operation if operation["status"] == "succeeded" else None

            operation = await _until(delivered, "the claim to reach Skuld")
            assert operation["agency"] == "skuld" and operation["agency_reference"].startswith("SK-")

            claim_url = f"/v1/tenants/acme/claims/{operation['claim_id']}"
            claim = (await http.get(claim_url, headers=headers)).json()
            assert (claim["agency"], claim["status"]) == ("skuld", "active")
            assert claim["balance"] == {"amount": 30003, "currency": "EUR"}  # decimal strings, read exactly

            # Skuld's offset pages through the gateway's cursors: 2 + 1.
            first = (await http.get(f"{claim_url}/invoices?limit=2", headers=headers)).json()
            assert [i["number"] for i in first["data"]] == ["INV-0", "INV-1"] and first["has_more"]
            rest = (
                await http.get(f"{claim_url}/invoices?limit=2&cursor={first['next_cursor']}", headers=headers)
            ).json()
            assert [i["number"] for i in rest["data"]] == ["INV-2"] and not rest["has_more"]

            # What the package does not declare is refused by the gateway before anything is stored.
            note = {
                "number": "CN-1",
                "invoice_number": "INV-0",
                "amount": {"amount": 100, "currency": "EUR"},
                "issued_on": "2026-10-02",
            }
            refused = await http.post(
                f"{claim_url}/credit-notes", json=note, headers={**headers, "Idempotency-Key": "skuld-2"}
            )
            assert refused.status_code == 422 and refused.json()["code"] == "unsupported_by_agency"

        async with httpx.AsyncClient(base_url=skuld_sandbox["url"]) as agency:
            ledger = (await agency.get("/_sandbox/ledger")).json()["entries"]
        assert [(e["kind"], e["body"]["clientReference"]) for e in ledger] == [
            ("case.register", "ORD-SKULD-1")
        ]
    finally:
        _stop(gateway)
        log.close()
