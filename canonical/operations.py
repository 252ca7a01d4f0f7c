"""Operations: every write is accepted as one, then delivered to the agency exactly once."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, get_args

import msgspec

from canonical._base import View
from canonical.problems import Problem

__all__ = [
    "EVENT_TYPES",
    "FINAL_STATUSES",
    "OPERATION_KINDS",
    "OPERATION_STATUSES",
    "Event",
    "EventType",
    "Operation",
    "OperationKind",
    "OperationStatus",
    "RefusedInvoice",
]

OperationKind = Literal[
    "claim.create", "payment.report", "payment.reverse", "credit_note.create", "claim.withdraw"
]
OperationStatus = Literal["queued", "submitted", "succeeded", "failed"]
OPERATION_KINDS: tuple[OperationKind, ...] = get_args(OperationKind)
OPERATION_STATUSES: tuple[OperationStatus, ...] = get_args(OperationStatus)
FINAL_STATUSES: frozenset[OperationStatus] = frozenset({"succeeded", "failed"})

EventType = Literal[
    "operation.succeeded",
    "operation.failed",
    "claim.status_changed",
    "payment.received",
    "payment.reversed",
    "invoice.updated",
    # A webhook endpoint that failed for its whole retry window was disabled (docs/webhooks.md).
    "webhook.endpoint_disabled",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


class RefusedInvoice(View, kw_only=True):
    """An invoice of a created claim that the agency refused (agencies that keep one claim per
    invoice accept some and refuse others): it is not at the agency and nothing is collected on
    it through this claim. `problem` says why; fix it and submit it in a new claim."""

    invoice_number: str
    problem: Problem


class Operation(View, kw_only=True):
    """A write as the gateway tracks it, from `queued` to `succeeded` or `failed`."""

    id: str
    kind: OperationKind
    status: OperationStatus
    claim_id: str
    agency: str
    agency_reference: str | None = None
    error: Problem | None = None
    #: Only on a `claim.create` that succeeded in part: the invoices the agency refused.
    refused_invoices: list[RefusedInvoice] | msgspec.UnsetType = msgspec.UNSET
    created_at: dt.datetime
    updated_at: dt.datetime


class Event(View, kw_only=True):
    id: str
    type: EventType
    created_at: dt.datetime
    claim_id: str | None = None
    data: dict[str, Any]
