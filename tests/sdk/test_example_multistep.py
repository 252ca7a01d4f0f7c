"""The second out-of-tree example (examples/adapter-example-multistep, agency "verdandi": one claim
per invoice, a create in three steps without idempotency key, review by hand): installed as a
package it passes the conformance kit — partial acceptance included — and a gateway routes a
claim to it whose create Verdandi accepts for two invoices and refuses for one, end to end, with
no gateway code changed. Everything runs in the overlay environment, in real processes."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sdk._imports import forbidden_imports
from tests.sdk.conftest import ROOT, Overlay
from tests.sdk.test_example import _free_port, _stop, _toml, _until, sandbox_process
from tests.sdk.test_scaffold import SUITE_TESTS, junit, suite_outcomes
from tests.support.gateway import claim_body, invoice_bodies

EXAMPLE = ROOT / "examples" / "adapter-example-multistep"
KEY = "cg_example_multistep_acme"


@pytest.fixture(scope="module")
def verdandi_installed(overlay: Overlay, tmp_path_factory: pytest.TempPathFactory) -> Path:
    overlay.install(EXAMPLE, cwd=tmp_path_factory.mktemp("example-multistep"))
    return EXAMPLE


def test_the_example_imports_nothing_of_the_gateway_but_the_sdk() -> None:
    assert forbidden_imports(EXAMPLE / "src" / "verdandi", "verdandi") == []


@pytest.mark.e2e
def test_the_example_passes_the_conformance_kit_partial_acceptance_included(
    verdandi_installed: Path, overlay: Overlay, tmp_path: Path
) -> None:
    report = tmp_path / "report.xml"
    ran = overlay.run(
        "-m", "pytest", "-p", "collection_gateway.conformance", verdandi_installed,
        "-p", "no:cacheprovider", "-q", f"--junitxml={report}",
        "-k", "conformance",  # the kit's suite; the package's own tests are the package's business
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    outcomes = junit(report)
    assert "failed" not in outcomes.values()
    undeclared = {
        "test_a_reported_payment_can_be_reversed",  # no payment.reverse at Verdandi
        "test_a_credit_note_lowers_the_invoices_remaining_amount",  # no credit_note.create
        # no change feed at Verdandi (its Capabilities.feeds is empty)
        "test_what_the_agency_does_on_its_own_comes_out_of_the_feed",
        "test_the_feed_read_again_gives_the_same_records_by_the_same_ids",
        "test_a_record_the_adapter_cannot_read_is_set_aside_and_the_feed_goes_on",
    }
    expected = {name: "skipped" if name in undeclared else "passed" for name in SUITE_TESTS}
    assert suite_outcomes(outcomes) == expected


@pytest.fixture
def verdandi_sandbox(verdandi_installed: Path, overlay: Overlay, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with sandbox_process(overlay, "verdandi", tmp_path) as sandbox:
        yield sandbox


def _config(sandbox: dict[str, Any]) -> str:
    agency = {
        **sandbox["agency"],
        "poll_interval_seconds": 0.05,
        "rate_limit_per_minute": 6000,
        # A lost answer is noticed within half a second; the sandbox commits at once.
        "timeout_seconds": 0.5,
        "commit_latency_seconds": 0.1,
    }
    document = {
        "store_url": "memory://",
        "run_worker": True,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "claim_cache_seconds": 0,
        "log_level": "WARNING",
        "agencies": {"verdandi": agency},
        "tenants": {
            "acme": {"default_agency": "verdandi", "credentials": {"verdandi": sandbox["credentials"]}}
        },
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


@pytest.mark.e2e
async def test_a_claim_verdandi_accepts_in_part_succeeds_listing_the_refused_invoice_end_to_end(
    verdandi_sandbox: dict[str, Any], overlay: Overlay, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(_config(verdandi_sandbox))
    port = _free_port()
    log = (tmp_path / "gateway.log").open("w")
    gateway = overlay.popen(
        "-m", "gateway.cli", "serve", "--config", config, "--port", str(port),
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=verdandi_sandbox["secrets"],
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
            httpx.AsyncClient(base_url=verdandi_sandbox["url"], timeout=10) as agency,
        ):

            async def ready() -> bool:
                assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
                try:
                    return (await http.get("/health/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await _until(ready, "the gateway to start")
            listed = {a["name"]: a for a in (await http.get("/v1/agencies", headers=headers)).json()["data"]}
            assert listed["verdandi"]["configured"] and listed["verdandi"]["currencies"] == ["CHF", "EUR"]

            # Verdandi's review will refuse INV-1; the first answer of the claims step is lost
            # (carried out, answered too late): the gateway looks it up instead of creating twice.
            refused = await agency.post(
                verdandi_sandbox["refuse"], json={"invoice_number": "INV-1", "reason": "invoice too old"}
            )
            assert refused.status_code == 204
            lost = {"commit_then_timeout": 1, "hang_seconds": 2.0, "paths": "^/v1/claims$"}
            assert (await agency.put("/_sandbox/faults", json=lost)).status_code == 200
            invoices = invoice_bodies(3)
            body = claim_body("ORD-VERDANDI-1", invoices=invoices)
            accepted = await http.post(
                "/v1/tenants/acme/claims", json=body, headers={**headers, "Idempotency-Key": "verdandi-1"}
            )
            assert accepted.status_code == 202, accepted.text
            location = accepted.headers["location"]

            async def decided() -> dict[str, Any] | None:
                operation: dict[str, Any] = (await http.get(location, headers=headers)).json()
                assert operation["status"] != "failed", operation
                return operation if operation["status"] == "succeeded" else None

            operation = await _until(decided, "Verdandi's review")
            assert operation["agency"] == "verdandi" and operation["agency_reference"].startswith("R-")
            assert [r["invoice_number"] for r in operation["refused_invoices"]] == ["INV-1"]
            problem = operation["refused_invoices"][0]["problem"]
            assert problem["code"] == "agency_rejected" and "too old" in problem["detail"]

            # The lost answer did cost an attempt: the next one resumed at the claims step.
            scrape = (await http.get("/metrics")).text
            retries = [
                line
                for line in scrape.splitlines()
                if line.startswith("cg_delivery_attempts_total{")
                and 'agency="verdandi"' in line
                and 'outcome="retry"' in line
            ]
            assert retries and float(retries[0].rsplit(" ", 1)[1]) >= 1, scrape[-2000:]

            claim_url = f"/v1/tenants/acme/claims/{operation['claim_id']}"
            claim = (await http.get(claim_url, headers=headers)).json()
            assert (claim["agency"], claim["status"]) == ("verdandi", "active")
            assert claim["balance"] == {"amount": 10000 + 10002, "currency": "EUR"}  # INV-1 owes nothing

            # A payment on INV-2 reaches INV-2's own claim at Verdandi (the per-invoice reference
            # the gateway kept with the claim); one on the refused INV-1 has nowhere to go, and
            # is refused before anything is stored.
            async def send(invoice: str, key: str) -> httpx.Response:
                amount = {"amount": 2, "currency": "EUR"}
                payment = {
                    "payment_id": f"P-{invoice}",
                    "amount": amount,
                    "paid_on": "2026-11-02",
                    "allocations": [{"invoice_number": invoice, "amount": amount}],
                }
                return await http.post(
                    f"{claim_url}/payments", json=payment, headers={**headers, "Idempotency-Key": key}
                )

            async def pay(invoice: str, key: str) -> dict[str, Any]:
                sent = await send(invoice, key)
                assert sent.status_code == 202, sent.text
                location = sent.headers["location"]

                async def final() -> dict[str, Any] | None:
                    op: dict[str, Any] = (await http.get(location, headers=headers)).json()
                    return op if op["status"] in ("succeeded", "failed") else None

                done: dict[str, Any] = await _until(final, f"the payment on {invoice}")
                return done

            assert (await pay("INV-2", "verdandi-2"))["status"] == "succeeded"
            claim = (await http.get(claim_url, headers=headers)).json()
            assert claim["balance"] == {"amount": 10000 + 10002 - 2, "currency": "EUR"}
            nowhere = await send("INV-1", "verdandi-3")
            assert nowhere.status_code == 422, nowhere.text
            [error] = nowhere.json()["errors"]
            assert error["pointer"] == "/allocations/0/invoice_number" and "refused" in error["detail"]

            ledger = (await agency.get("/_sandbox/ledger")).json()["entries"]
        assert [e["kind"] for e in ledger] == [
            "debtor.create", "claim.create", "claim.create", "claim.create", "release.create",
            "payment.create",
        ]  # fmt: skip
        assert ledger[-1]["key"] == "P-INV-2/INV-2"
    finally:
        _stop(gateway)
        log.close()
