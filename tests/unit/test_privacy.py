"""An erase rewrites what an operation holds in free text, the refused invoices' reasons too."""

from __future__ import annotations

import datetime as dt

from canonical import Problem, RefusedInvoice
from gateway.services.privacy import ERASED, erased_operation
from gateway.stores.records import OperationRecord


def test_an_erased_operation_keeps_codes_and_loses_the_agencys_words() -> None:
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    refusal = Problem(
        title="Rejected by agency", status=422, code="agency_rejected", detail="Anna Muster unknown"
    )
    operation = OperationRecord(
        id="op_1",
        tenant="acme",
        kind="claim.create",
        status="succeeded",
        claim_id="clm_1",
        agency="fake",
        payload={"client_reference": "ORD-1"},
        refused_invoices=[RefusedInvoice(invoice_number="INV-2", problem=refusal)],
        created_at=now,
        updated_at=now,
    )
    [refused] = erased_operation(operation).refused_invoices
    assert refused.invoice_number == "INV-2" and refused.problem.code == "agency_rejected"
    assert refused.problem.detail == ERASED
