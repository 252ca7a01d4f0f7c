"""Exactly once under chaos (issue 20): a short run of every fault at once, judged by the agencies.

About 250 writes across the three agencies (claims, payments, credit notes, then reversals and
withdrawals) go through the gateway's API while:
- agencies lose answers after committing (`commit_then_timeout`), commit after the gateway's
  timeout (`commit_late`, Debbie's ghost writes), answer 5xx and 429 with Retry-After;
- the delivery workers (real processes) are SIGKILLed and restarted;
- the store (a redis-server of the test's own, AOF fsync always) is SIGKILLed and restarted;
- clients retry with the same Idempotency-Key whenever the gateway answers 503.
Then, from the sandboxes' own ledgers and state: every accepted write either succeeded and is at
its agency exactly once with the right amount, sign and currency, or failed with a reason and is
not there; no operation is left unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.intrum.sandbox import SandboxOptions
from adapters.registry import discover
from adapters.riverty.sandbox import RivertySandbox
from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from gateway.demo import DEMO_KEYS
from gateway.settings import settings_from_mapping
from tests.support.agencies import Sandboxes, claim_body, settings_document
from tests.support.redis_server import OwnRedis

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLAIMS_PER_AGENCY = 15
#: Where each agency's claims go: (tenant, currency).
AGENCIES = {"intrum": ("acme", "EUR"), "debbie": ("acme", "SEK"), "riverty": ("globex", "EUR")}
FINAL = ("succeeded", "failed")
#: However busy the machine, every write is final within this (a hard cap on `final`).
QUIET_CAP = 240.0


class Write:
    """One accepted write and what it should have done at its agency."""

    def __init__(self, agency: str, tenant: str, kind: str, claim: str, **expect: Any) -> None:
        self.agency, self.tenant, self.kind, self.claim = agency, tenant, kind, claim
        self.expect = expect
        self.operation_id = ""
        self.result: dict[str, Any] = {}


def _toml(document: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for a gateway config (tables, arrays of tables, scalars, lists)."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in document.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            tables.append(f"\n[{name}]\n" + _toml(value, name))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            tables += [f"\n[[{name}]]\n" + _toml(item, name) for item in value]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "".join(tables) + "\n"


class Workers:
    """Delivery workers as real processes (`collection-gateway worker`), to SIGKILL at will."""

    def __init__(self, config: Path, env: dict[str, str], logs: Path) -> None:
        self.config, self.env, self.logs = config, env, logs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()

    def start(self) -> None:
        with (self.logs / f"worker-{len(self.processes)}.log").open("wb") as log:  # the child keeps its own
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gateway.cli", "worker", "--config", str(self.config)],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def kill_one(self) -> None:
        alive = [p for p in self.processes if p.poll() is None]
        if alive:
            self.killed.add(alive[0].pid)
            os.kill(alive[0].pid, signal.SIGKILL)
            alive[0].wait(5)

    def alive(self) -> int:
        return sum(1 for p in self.processes if p.poll() is None)

    def died(self) -> list[str]:
        """Workers that ended without being killed (a worker outlives every fault), with their logs."""
        return [
            f"worker-{n} exited {p.returncode}:\n" + (self.logs / f"worker-{n}.log").read_text()[-2000:]
            for n, p in enumerate(self.processes)
            if p.poll() is not None and p.pid not in self.killed
        ]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def store() -> Iterator[OwnRedis]:
    own = OwnRedis()
    own.start()
    try:
        yield own
    finally:
        own.close()


@contextlib.asynccontextmanager
async def stack(
    store: OwnRedis, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Sandboxes, Workers]]:
    sandboxes = Sandboxes(
        riverty=RivertySandbox(outcome_delay=0.1),
        intrum=SandboxOptions(step_seconds=0.05, per_minute=1_000_000, per_day=10_000_000),
    )
    generous = {"rate_limit_per_minute": 1_000_000, "rate_limit_per_day": 10_000_000}
    document, secrets = settings_document(
        sandboxes,
        store_url=store.url,
        store_prefix="chaos",
        worker_port=0,  # each worker's health/metrics port: a free one (several run on this host)
        reclaim_idle_seconds=2,
        max_attempts=40,
        retry_base_seconds=0.05,
        retry_max_seconds=0.5,
        agencies={
            "intrum": {**generous, "poll_interval_seconds": 0.2},
            "debbie": {"poll_interval_seconds": 0.2},
            "riverty": {"poll_interval_seconds": 0.2},
        },
    )
    config = tmp_path / "gateway.toml"
    config.write_text(_toml(document))
    env = {**os.environ, **secrets, "PYTHONPATH": str(ROOT), "CG_LOG_LEVEL": "WARNING"}
    workers = Workers(config, env, tmp_path)
    specs = discover()
    api = serve_in_thread(create_app(settings_from_mapping(document, secrets, specs), specs=specs))
    try:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            yield http, sandboxes, workers
    finally:
        workers.stop()
        api.stop()
        sandboxes.stop()


async def submit(http: httpx.AsyncClient, write: Write, path: str, body: dict[str, Any]) -> None:
    """POST until accepted, with one Idempotency-Key: a 503 (store down) or a dropped connection
    is retried, as a client following api.md does."""
    headers = {"Authorization": f"Bearer {DEMO_KEYS[write.tenant]}", "Idempotency-Key": uuid.uuid4().hex}
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            response = await http.post(f"/v1/tenants/{write.tenant}{path}", json=body, headers=headers)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 202:
            write.operation_id = response.json()["id"]
            write.claim = response.json()["claim_id"]
            return
        assert response is None or response.status_code == 503, response.text
        assert asyncio.get_running_loop().time() < deadline, "the gateway never accepted the write"
        await asyncio.sleep(0.1)


def explain(store: OwnRedis, workers: Workers, writes: list[Write], limit: int = 8) -> str:
    """What a failing run needs to be diagnosed: the stored state and history of some operations,
    the outbox and the workers (read straight from the test's own store)."""
    import redis

    lines = [f"workers alive: {workers.alive()} of {len(workers.processes)} started", *workers.died()]
    try:
        client = redis.Redis.from_url(store.url, socket_timeout=5)
        lines.append(
            f"outbox: {client.xlen('chaos:outbox')} in the stream, {client.zcard('chaos:delayed')} delayed"
            f" {client.zrange('chaos:delayed', 0, 5, withscores=True)}, pending"
            f" {client.xpending('chaos:outbox', 'workers')}"
        )
        for write in writes[:limit]:
            raw = client.get(f"chaos:op:{write.operation_id}")
            if raw is None:
                lines.append(f"{write.operation_id}: not in the store")
                continue
            op = json.loads(raw)
            lines.append(
                f"{op['id']} {op['kind']} {op['agency']} {op['status']} attempts={op['attempts']}"
                f" in_flight={op['in_flight']} maybe_sent={op['maybe_sent']} tracking={op.get('tracking')}"
                f" updated_at={op['updated_at']} error={op.get('error')}"
            )
            lines += [f"    {step}" for step in op.get("history", [])]
        client.close()
    except redis.RedisError as exc:
        lines.append(f"store unreadable: {exc}")
    return "\n".join(lines)


async def final(http: httpx.AsyncClient, writes: list[Write], quiet: float = 30, why: Any = None) -> None:
    """Wait until every write's operation is final. Bounded by progress, not by the clock (a
    loaded machine is slow, not wrong): it fails once no unfinished operation has changed (status
    or attempt) for `quiet` seconds — something is stuck — or after `QUIET_CAP` in all."""
    loop = asyncio.get_running_loop()
    started = changed = loop.time()
    waiting = [w for w in writes if w.result.get("status") not in FINAL]
    while waiting:
        for write in waiting:
            headers = {"Authorization": f"Bearer {DEMO_KEYS[write.tenant]}"}
            with contextlib.suppress(httpx.TransportError):
                answer = await http.get(
                    f"/v1/tenants/{write.tenant}/operations/{write.operation_id}", headers=headers
                )
                if answer.status_code == 200:
                    seen = answer.json()
                    if (seen["status"], seen["updated_at"]) != (
                        write.result.get("status"),
                        write.result.get("updated_at"),
                    ):
                        changed = loop.time()
                    write.result = seen
        waiting = [w for w in waiting if w.result.get("status") not in FINAL]
        if waiting and (loop.time() - changed > quiet or loop.time() - started > QUIET_CAP):
            stuck = [(w.kind, w.agency, w.result.get("status")) for w in waiting]
            details = why(waiting) if why is not None else ""
            raise AssertionError(
                f"{len(waiting)} operations stuck (none changed for {loop.time() - changed:.0f} s,"
                f" {loop.time() - started:.0f} s in all): {stuck[:10]}\n{details}"
            )
        await asyncio.sleep(0.2)


def arm_faults(sandboxes: Sandboxes, rng: random.Random) -> None:
    """A new round of faults at every agency (each counts down as it fires)."""
    writes = {"intrum": r"^/restServices/", "debbie": r"^/v1/", "riverty": r"^/claims"}
    for agency in sandboxes.servers:
        choice = rng.choice(["lost", "lost", "late" if agency == "debbie" else "lost", "5xx", "429"])
        plan: dict[str, Any] = {"paths": writes[agency]}
        if choice == "lost":
            plan |= {"commit_then_timeout": rng.randint(1, 3), "hang_seconds": 0.8}
        elif choice == "late":
            plan |= {"commit_late": rng.randint(1, 2), "hang_seconds": 0.8}
        elif choice == "5xx":
            plan |= {"fail_5xx": rng.randint(1, 3)}
        else:
            plan |= {"rate_limit_429": rng.randint(1, 3), "retry_after": 1}
        sandboxes.faults(agency, **plan)


async def chaos(
    sandboxes: Sandboxes, workers: Workers, store: OwnRedis, rounds: int, rng: random.Random
) -> None:
    """Every 0.7 s: new faults; every other round a worker is killed (and replaced); once, the store."""
    for round_ in range(rounds):
        arm_faults(sandboxes, rng)
        if round_ % 2 == 1:
            workers.kill_one()
            workers.start()
        if round_ == 2:
            store.kill()
            await asyncio.sleep(0.5)
            store.start()
        await asyncio.sleep(0.7)
    for agency in sandboxes.servers:
        sandboxes.faults(agency)


async def test_every_accepted_write_lands_exactly_once_or_fails_and_is_not_there(
    store: OwnRedis, tmp_path: Path
) -> None:
    rng = random.Random(20)
    async with stack(store, tmp_path) as (http, sandboxes, workers):
        workers.start()
        workers.start()
        gate = asyncio.Semaphore(16)

        async def send(write: Write, path: str, body: dict[str, Any]) -> Write:
            async with gate:
                await submit(http, write, path, body)
            return write

        # Phase 1: claims, each with three payments and a credit note (follow-ups wait for their
        # claim's confirmation in the queue).
        writes: list[Write] = []
        jobs = []
        claims: dict[str, tuple[str, dict[str, Any], Write]] = {}
        for agency, (tenant, currency) in AGENCIES.items():
            for _ in range(CLAIMS_PER_AGENCY):
                body = claim_body(currency=currency, invoices=2)
                create = Write(
                    agency, tenant, "claim.create", "", invoices=[i["number"] for i in body["invoices"]]
                )
                writes.append(create)
                jobs.append(send(create, "/claims", body))
                claims[body["invoices"][0]["number"]] = (agency, body, create)
        chaos_task = asyncio.create_task(chaos(sandboxes, workers, store, 6, rng))
        await asyncio.gather(*jobs)
        jobs = []
        for agency, body, create in claims.values():
            tenant, currency = AGENCIES[agency]
            claim_id = create.claim
            for n in range(3):
                payment_id = f"P-{uuid.uuid4().hex[:10]}"
                amount = 1000 + 100 * n
                write = Write(
                    agency,
                    tenant,
                    "payment.report",
                    claim_id,
                    payment_id=payment_id,
                    amount=amount,
                    currency=currency,
                )
                writes.append(write)
                jobs.append(
                    send(
                        write,
                        f"/claims/{claim_id}/payments",
                        {
                            "payment_id": payment_id,
                            "amount": {"amount": amount, "currency": currency},
                            "paid_on": "2026-11-02",
                        },
                    )
                )
            note = f"CN-{uuid.uuid4().hex[:8]}"
            invoice = body["invoices"][1]["number"]
            write = Write(
                agency,
                tenant,
                "credit_note.create",
                claim_id,
                number=note,
                invoice=invoice,
                amount=500,
                currency=currency,
            )
            writes.append(write)
            jobs.append(
                send(
                    write,
                    f"/claims/{claim_id}/credit-notes",
                    {
                        "number": note,
                        "invoice_number": invoice,
                        "amount": {"amount": 500, "currency": currency},
                        "issued_on": "2026-11-02",
                    },
                )
            )
        await asyncio.gather(*jobs)
        await chaos_task
        await final(http, writes, why=lambda w: explain(store, workers, w))

        # Phase 2: reversals of a booked payment (Intrum, Riverty) and withdrawals, under a second
        # round of faults and kills.
        jobs = []
        by_claim: dict[str, list[Write]] = {}
        for write in writes:
            if write.kind == "payment.report" and write.result["status"] == "succeeded":
                by_claim.setdefault(write.claim, []).append(write)
        for index, (agency, body, create) in enumerate(claims.values()):
            tenant, _ = AGENCIES[agency]
            if create.result["status"] != "succeeded":
                continue
            paid = by_claim.get(create.claim, [])
            if index % 3 == 0 and agency != "debbie" and paid:
                target = paid[0]
                write = Write(
                    agency, tenant, "payment.reverse", create.claim, payment_id=target.expect["payment_id"]
                )
                writes.append(write)
                jobs.append(
                    send(write, f"/claims/{create.claim}/payments/{target.expect['payment_id']}/reversal", {})
                )
            elif index % 3 == 1:
                partial = agency == "riverty" and index % 2 == 0
                names = [body["invoices"][0]["number"]] if partial else None
                write = Write(agency, tenant, "claim.withdraw", create.claim, invoices=names)
                writes.append(write)
                jobs.append(
                    send(
                        write,
                        f"/claims/{create.claim}/withdrawal",
                        {"reason": "by_client", **({"invoice_numbers": names} if names else {})},
                    )
                )
        phase2 = asyncio.create_task(chaos(sandboxes, workers, store, 3, rng))
        await asyncio.gather(*jobs)
        await phase2
        await final(http, writes, why=lambda w: explain(store, workers, w))
        assert not workers.died(), workers.died()

        failures = [w for w in writes if w.result["status"] == "failed"]
        print(  # the run's shape, for `pytest -s`
            f"chaos: {len(writes)} writes, {len(failures)} failed, {len(workers.processes)} worker processes"
            f" ({len(workers.processes) - 2} after kills), late commits at Debbie: {sandboxes.late_commits('debbie')}"
        )
        if failures:
            print(explain(store, workers, failures, limit=len(failures)))
        for write in failures:
            assert write.result["error"] and write.result["error"]["code"], write.result
        assert len(failures) <= len(writes) // 10, [(w.kind, w.agency, w.result["error"]) for w in failures]
        for agency in AGENCIES:
            check = {"intrum": check_intrum, "debbie": check_debbie, "riverty": check_riverty}[agency]
            check(sandboxes, [w for w in writes if w.agency == agency])


def _landed(write: Write, count: int) -> None:
    expected = 1 if write.result["status"] == "succeeded" else 0
    assert count == expected, f"{write.kind} at {write.agency}: {count} at the agency, {write.result}"


def _minor(value: Any) -> int:
    amount = Decimal(str(value)) * 100
    assert amount == amount.to_integral_value()
    return int(amount)


def check_intrum(sandboxes: Sandboxes, writes: list[Write]) -> None:
    ledger = sandboxes.ledger("intrum")

    def bodies(kind: str) -> list[dict[str, Any]]:
        return [e["body"] for e in ledger if e["kind"] == kind]

    for write in writes:
        match write.kind:
            case "claim.create":
                found = [
                    b
                    for b in bodies("registration")
                    if {i["invoiceNumber"] for i in b["invoices"]} & set(write.expect["invoices"])
                ]
                _landed(write, len(found))
            case "payment.report":
                found = [b for b in bodies("payment") if b["paymentId"] == write.expect["payment_id"]]
                _landed(write, len(found))
                for body in found:
                    assert _minor(body["totalPaymentAmount"]) == write.expect["amount"] > 0
            case "credit_note.create":
                found = [b for b in bodies("creditNote") if b.get("invoiceNumber") == write.expect["invoice"]]
                _landed(write, len(found))
                for body in found:
                    assert _minor(body["creditNoteAmount"]) == write.expect["amount"] > 0
            case "payment.reverse":
                found = [b for b in bodies("paymentReversal") if b["paymentId"] == write.expect["payment_id"]]
                _landed(write, len(found))
            case "claim.withdraw":
                invoices = _claim_invoices(writes, write)
                found = [b for b in bodies("withdrawal") if b.get("invoiceNumber") in invoices]
                expected = 2 if write.result["status"] == "succeeded" else 0
                assert len(found) == expected, (found, write.result["error"])


def check_debbie(sandboxes: Sandboxes, writes: list[Write]) -> None:
    ledger = sandboxes.ledger("debbie")
    cases = {e["key"]: e["body"] for e in ledger if e["kind"] == "case.create"}
    for write in writes:
        match write.kind:
            case "claim.create":
                found = [
                    k
                    for k, b in cases.items()
                    if any(v.get("referenceId") in write.expect["invoices"] for v in b["caseVouchers"])
                ]
                _landed(write, len(found))
                for key in found:
                    assert cases[key]["currency"] == "SEK"
            case "payment.report":
                found = [
                    e["body"]
                    for e in ledger
                    if e["kind"] == "case_voucher.create"
                    and e["body"].get("referenceId") == write.expect["payment_id"]
                ]
                _landed(write, len(found))
                for body in found:
                    assert (body["amount"], body["currency"]) == (
                        write.expect["amount"],
                        "SEK",
                    )  # credit: positive
            case "credit_note.create":
                found = [
                    e["body"]
                    for e in ledger
                    if e["kind"] == "case_voucher.create"
                    and str(e["body"].get("referenceId", "")).endswith(f"|{write.expect['number']}")
                ]
                _landed(write, len(found))
                for body in found:
                    assert (body["amount"], body["currency"]) == (write.expect["amount"], "SEK")
            case "claim.withdraw":
                case_id = next(
                    c.result.get("agency_reference")
                    for c in writes
                    if c.kind == "claim.create" and c.claim == write.claim
                )
                found = [e for e in ledger if e["kind"] == "case.status" and e["key"] == case_id]
                _landed(write, len(found))


def check_riverty(sandboxes: Sandboxes, writes: list[Write]) -> None:
    ledger = sandboxes.ledger("riverty")
    riverty = sandboxes.riverty
    for write in writes:
        match write.kind:
            case "claim.create":
                found = [
                    e
                    for e in ledger
                    if e["kind"] == "claim" and e["body"]["contracts"][0]["contractNumber"] == write.claim
                ]
                processed = [
                    n
                    for n, c in riverty.claims.items()
                    if write.claim in c.contract_numbers and c.status != "REJECTED"
                ]
                _landed(write, len(processed))
                assert len(found) == len(processed) or write.result["status"] == "failed"
            case "payment.report" | "credit_note.create":
                number = write.expect.get("payment_id") or write.expect["number"]
                booked = [d for c in riverty.claims.values() for d in c.documents if d.number == number]
                _landed(write, len(booked))
                for document in booked:
                    assert (_minor(document.amount), document.currency) == (
                        write.expect["amount"],
                        write.expect["currency"],
                    )
            case "payment.reverse":
                cancellations = [
                    d
                    for c in riverty.claims.values()
                    for d in c.documents
                    if d.cancels == write.expect["payment_id"]
                ]
                _landed(write, len(cancellations))
            case "claim.withdraw":
                reference = next(
                    c.result.get("agency_reference")
                    for c in writes
                    if c.kind == "claim.create" and c.claim == write.claim
                )
                recalls = [e for e in ledger if e["kind"] == "recall" and e["key"] == reference]
                assert len(recalls) >= (1 if write.result["status"] == "succeeded" else 0)
                assert len(recalls) <= 1, recalls
                invoices = riverty.claims[reference].invoices
                wanted = write.expect["invoices"] or [i.number for i in invoices]
                if write.result["status"] == "succeeded":
                    assert all(i.recalled for i in invoices if i.number in wanted)


def _claim_invoices(writes: list[Write], write: Write) -> list[str]:
    create = next(c for c in writes if c.kind == "claim.create" and c.claim == write.claim)
    return list(create.expect["invoices"])
