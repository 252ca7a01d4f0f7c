"""Logs as ops read them: JSON lines with the request's and operation's ids, and never a debtor's
personal data, a key, a token or a secret — on every path, errors included."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.registry import discover
from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from gateway.demo import DEMO_KEYS, demo_document
from gateway.logs import bound_contextvars, flush, get_logger
from gateway.settings import settings_from_mapping
from tests.observability.conftest import logging_to
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import claim_body, gateway_settings, sha

# Distinctive enough that finding one anywhere in the output can only be a leak.
PII = {
    "first_name": "Quenbyx",
    "last_name": "Zorvathiel",
    "street": "Plimsolgasse",
    "email": "quenbyx.zorvathiel@example.org",
    "phone": "+41795550137",
    "reference": "DEBTOR-Wyvernhalt",
}
SECRET_KEY = "sk_obs_Tr0ub4dor-horse-battery"
WRONG_KEY = "sk_obs_wrong-Xylophone-kiwi"
CALLER_TOKEN = "tok_obs_Marzipan-seventeen"


def debtor_claim(reference: str, currency: str = "EUR") -> dict[str, Any]:
    body = claim_body(reference, currency)
    body["debtor"].update(
        first_name=PII["first_name"],
        last_name=PII["last_name"],
        email=PII["email"],
        phone=PII["phone"],
        reference=PII["reference"],
    )
    body["debtor"]["address"]["street"] = PII["street"]
    return body


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    flush()  # access lines are written in batches (gateway/middleware.py)
    text = stream.getvalue()
    parsed = []
    for line in text.splitlines():
        assert line.strip(), "an empty log line"
        parsed.append(json.loads(line))  # every line is one JSON object
    return parsed


def assert_no_leak(*outputs: str, secrets: list[str]) -> None:
    for output in outputs:
        for value in [*PII.values(), *secrets]:
            assert value not in output, f"{value!r} leaked into the logs"
            assert value.lower() not in output.lower(), f"{value!r} leaked into the logs"


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_every_path_logs_json_with_ids_and_no_personal_data_or_secret(
    log_stream: io.StringIO, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    agency = FakeAgency()
    specs = {"fake": fake_spec(agency)}
    token_file = tmp_path / "token"  # a secret never sits in the config itself
    token_file.write_text(CALLER_TOKEN)
    settings = gateway_settings(
        specs,
        api_keys=[
            {
                "name": "acme",
                "tenant": "acme",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": sha(SECRET_KEY),
            }
        ],
        tenants={
            "acme": {
                "default_agency": "fake",
                "credentials": {"fake": {"account_id": "acme-1", "token_file": str(token_file)}},
            }
        },
    )
    server = serve_in_thread(create_app(settings, specs=specs))
    good = {"Authorization": f"Bearer {SECRET_KEY}"}
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            # accepted and delivered after two transient failures
            agency.fail_next = 2
            ok = await http.post(
                "/v1/tenants/acme/claims",
                json=debtor_claim("ORD-ok"),
                headers={**good, "Idempotency-Key": "k-ok", "Prefer": "wait=5"},
            )
            assert ok.status_code == 201, ok.text
            operation_id, claim_id = ok.json()["id"], ok.json()["claim_id"]
            read = await http.get(f"/v1/tenants/acme/claims/{claim_id}?refresh=true", headers=good)
            assert read.status_code == 200
            # rejected by the agency, whose message quotes the debtor
            agency.reject_next = f"debtor {PII['first_name']} {PII['last_name']} unknown at {PII['street']}"
            rejected = await http.post(
                "/v1/tenants/acme/claims",
                json=debtor_claim("ORD-rej"),
                headers={**good, "Idempotency-Key": "k-rej", "Prefer": "wait=5"},
            )
            assert rejected.json()["status"] == "failed"
            # a fault of ours whose message quotes the debtor
            agency.crash_next = f"cannot map {PII['email']}"
            crashed = await http.post(
                "/v1/tenants/acme/claims",
                json=debtor_claim("ORD-crash"),
                headers={**good, "Idempotency-Key": "k-crash"},
            )
            crash_op = crashed.json()["id"]

            async def crash_retried() -> bool:
                op = await http.get(f"/v1/tenants/acme/operations/{crash_op}", headers=good)
                return op.json()["status"] == "succeeded"

            await wait_until(crash_retried)
            # refused keys, bad bodies, unknown paths, a reused idempotency key
            assert (
                await http.get("/v1/tenants/acme/claims", headers={"Authorization": f"Bearer {WRONG_KEY}"})
            ).status_code == 401
            assert (await http.get("/v1/tenants/acme/claims")).status_code == 401
            malformed = f'{{"debtor": {{"first_name": "{PII["first_name"]}"'
            bad = await http.post(
                "/v1/tenants/acme/claims",
                content=malformed,
                headers={**good, "Idempotency-Key": "k-bad", "Content-Type": "application/json"},
            )
            assert bad.status_code == 400
            invalid = debtor_claim("ORD-inv")
            invalid["debtor"]["email"] = PII["last_name"]  # not an email: 422 naming the field
            assert (
                await http.post(
                    "/v1/tenants/acme/claims", json=invalid, headers={**good, "Idempotency-Key": "k-inv"}
                )
            ).status_code == 422
            reused = await http.post(
                "/v1/tenants/acme/claims",
                json=debtor_claim("ORD-other"),
                headers={**good, "Idempotency-Key": "k-ok"},
            )
            assert reused.status_code == 422
            assert (await http.get(f"/v1/{PII['last_name']}", headers=good)).status_code == 404
            assert (
                await http.get(f"/v1/tenants/acme/claims/{PII['reference']}", headers=good)
            ).status_code == 404
            assert (
                await http.get(f"/v1/tenants/acme/claims?client_reference={PII['reference']}", headers=good)
            ).status_code == 200
    finally:
        server.stop()

    flush()
    captured = capfd.readouterr()
    assert_no_leak(
        log_stream.getvalue(), captured.out, captured.err, secrets=[SECRET_KEY, WRONG_KEY, CALLER_TOKEN]
    )
    records = lines(log_stream)
    assert all({"timestamp", "level", "message", "logger"} <= record.keys() for record in records)
    access = [r for r in records if r["logger"] == "gateway.access"]
    assert len(access) == 12 + sum(1 for r in access if r["route"].endswith("/operations/{operation_id}"))
    assert all(r["request_id"] and r["duration_ms"] >= 0 and r["method"] for r in access)
    created = next(r for r in access if r["method"] == "POST" and r["status"] == 201)
    assert created == {
        **created,
        "route": "/v1/tenants/{tenant}/claims",
        "tenant": "acme",
        "operation_id": operation_id,
        "claim_id": claim_id,
    }
    assert created["key_id"].startswith("key_")  # the key's id, never the key
    assert {r["route"] for r in access if r["status"] == 404} >= {"unmatched"}
    assert next(r for r in access if r["status"] == 401)["key_id"] is None
    attempts = [r for r in records if r["logger"] == "gateway.delivery"]
    first = [r for r in attempts if r["operation_id"] == operation_id]
    assert [r["outcome"] for r in first] == ["retry", "retry", "succeeded"]
    assert all(r["claim_id"] == claim_id and r["agency"] == "fake" and r["duration_ms"] >= 0 for r in first)
    assert {r["outcome"] for r in attempts} >= {"failed", "error", "retry", "succeeded"}
    crash = next(r for r in records if "exception" in r)
    assert crash["exception"]["type"] == "builtins.RuntimeError" and crash["operation_id"] == crash_op


async def test_agency_calls_with_real_credentials_leak_no_secret(
    log_stream: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    """The demo's three sandboxes over HTTP: OAuth tokens, static tokens, client secrets, keys."""
    specs = discover()
    sandboxes = {
        name: serve_in_thread(spec.sandbox.create_app()) for name, spec in specs.items() if spec.sandbox
    }
    document, secrets = demo_document(specs, {name: s.base_url for name, s in sandboxes.items()})
    for agency in document["agencies"].values():
        agency["poll_interval_seconds"] = 0.2
    gateway = serve_in_thread(create_app(settings_from_mapping(document, secrets, specs), specs=specs))
    try:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
            for tenant, currency in (("acme", "EUR"), ("acme", "SEK"), ("globex", "EUR")):
                headers = {
                    "Authorization": f"Bearer {DEMO_KEYS[tenant]}",
                    "Idempotency-Key": uuid.uuid4().hex,
                    "Prefer": "wait=20",
                }
                body = debtor_claim(f"ORD-{uuid.uuid4().hex[:8]}", currency)
                body["invoices"][0]["number"] = uuid.uuid4().hex[:8]
                answer = await http.post(f"/v1/tenants/{tenant}/claims", json=body, headers=headers)
                assert answer.status_code in (201, 202), answer.text
                claim_id = answer.json()["claim_id"]
                read = await http.get(
                    f"/v1/tenants/{tenant}/claims/{claim_id}",
                    headers={"Authorization": headers["Authorization"]},
                )
                assert read.status_code in (200, 503)
    finally:
        gateway.stop()
        for sandbox in sandboxes.values():
            sandbox.stop()
    captured = capfd.readouterr()
    secret_values = [v for v in secrets.values() if len(v) >= 6] + list(DEMO_KEYS.values())
    assert secret_values
    assert_no_leak(log_stream.getvalue(), captured.out, captured.err, secrets=secret_values)
    records = lines(log_stream)
    assert {r["agency"] for r in records if r["logger"] == "gateway.delivery"} == set(sandboxes) - {"skuld"}


def test_text_lines_for_the_demo_are_readable_and_as_discreet() -> None:
    stream = io.StringIO()
    with logging_to(stream, "text"), bound_contextvars(request_id="req-1", operation_id="op_1"):
        get_logger("gateway.access").info("request", method="GET", status=200)
        get_logger("gateway.access").debug("not on the request path")
        try:
            raise ValueError(f"cannot map {PII['email']}")
        except ValueError:
            logging.getLogger("gateway.worker").exception("delivery failed")
    text = stream.getvalue()
    first, second, *frames = text.splitlines()
    assert (
        "[info" in first
        and "request" in first
        and "request_id=req-1" in first
        and "operation_id=op_1" in first
    )
    assert "delivery failed" in second and "[gateway.worker]" in second
    assert "builtins.ValueError" in text and "test_logs.py" in frames[-1]
    assert "not on the request path" not in text
    assert_no_leak(text, secrets=[])


def test_lines_on_a_pipe_are_written_whole_and_never_more_than_pipe_buf_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`serve --workers N` share one stderr pipe: a write of at most PIPE_BUF is atomic there, so
    every write(2) must be whole lines and at most PIPE_BUF, or two processes' lines interleave."""
    import os
    import select

    from gateway import logs

    writes: list[bytes] = []
    real_write = os.write

    def recording(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    path = tmp_path / "stderr"
    rows: list[logs.AccessRow] = [
        (("GET", "/v1/agencies", 200), 0.0015, float(n), {"request_id": f"req-{n}"}, "acme", "key_1", None)
        for n in range(300)
    ]
    with path.open("w") as stream, logging_to(stream), monkeypatch.context() as patched:
        patched.setattr(logs.os, "write", recording)
        logs.write_access_lines(rows, 1.7e9)  # the rows ended 1.7e9 s after the epoch, and on
        for n in range(40):
            get_logger("gateway.delivery").info("attempt", n=n, note="x" * 200)
        get_logger("gateway.delivery").warning("at once")  # written now, after the gathered ones
        written_before_flush = len(writes)
        flush()
        assert written_before_flush == len(writes)  # nothing was left waiting behind the warning
    assert all(len(w) <= select.PIPE_BUF and w.endswith(b"\n") for w in writes)
    assert len(writes) < (300 + 41) / 5  # gathered, not a write per line
    parsed = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["request_id"] for r in parsed[:300]] == [f"req-{n}" for n in range(300)]
    assert parsed[0]["timestamp"] == "2023-11-14T22:13:20.000000Z"  # when the request ended
    assert parsed[0]["duration_ms"] == 1.5 and parsed[0]["status"] == 200
    assert [r.get("n") for r in parsed[300:340]] == list(range(40)) and parsed[-1]["message"] == "at once"


def test_access_lines_of_requests_before_a_switch_of_destination_stay_with_the_old_one() -> None:
    """Access lines are written in batches: a request answered before the logs were sent
    elsewhere (a test's stream, a reconfigured process) keeps its line out of the new place."""
    from gateway import middleware

    before = io.StringIO()
    after = io.StringIO()
    with logging_to(before):

        async def answered() -> None:  # inside a loop: the line waits for its batch
            middleware._http.note(
                (("GET", "/v1/agencies", 200), 0.001, 0.0, {"request_id": "old"}, None, None, None)
            )

        asyncio.run(answered())
        assert "old" not in before.getvalue()
        with logging_to(after):
            pass
    assert '"request_id":"old"' in before.getvalue() and "old" not in after.getvalue()
