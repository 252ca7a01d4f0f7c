"""The adapter SDK: everything an agency adapter imports from the gateway, in one module.

An adapter package (`adapters/<agency>/` in this repository, or a package of its own that
registers under the entry-point group `collection_gateway.adapters`) imports `adapters.sdk`
and nothing else from this distribution — not `gateway`, not `canonical` directly, not
`adapters.base` or `adapters._upstream`. A test enforces that for the built-in agencies; the
names below are the contract third-party adapters are written against. (Guide:
docs/adding-an-adapter.md.)

What is here, by the job it does:

- **The contract** — `Adapter` (the protocol), `AdapterSpec` (what the entry point names),
  `SandboxSpec`, `AdapterContext` (config section + shared plumbing handed to
  `AdapterSpec.create`), `Capabilities` / `Capability` / `CAPABILITIES`, the write context
  `OperationContext`, the claim address `ClaimRef`, what reads answer (`AgencyClaim`,
  `AdapterPage`) and what writes answer (`Outcome` = `Succeeded | Submitted | Failed |
  PartiallyAccepted`, then `PendingOutcome` → `ResolvedOutcome` through `poll_outcomes`), and
  `Credential`.
- **The change feed** — an agency that reports what happens on its side declares `Feed`s in
  `Capabilities.feeds` and implements `ChangeFeed.changes_since(credential, checkpoint, limit)`
  → `ChangeBatch(records, checkpoint, has_more)`; records (`ChangeRecord`) are
  `StatusChanged`, `PaymentCollected`, `InvoiceChanged`, or `Unreadable` (quarantined by the
  gateway, never a blocked feed), each with the agency's own `record_id` (the gateway applies
  each once) and the claim's `agency_reference`. An agency that calls back (webhooks) is a
  `CallbackReceiver`: it authenticates the call and reads it into the same records.
- **The canonical language** — claims, invoices, payments, credit notes, withdrawals, `Money`
  (integer minor units) and its exact conversions `from_major` / `to_major` (Decimal major
  units at the agency boundary; a fraction of a minor unit raises `MoneyError`).
- **Errors** — the `canonical.problems` tree an adapter raises or returns as `Failed(problem=
  exc.problem())`: `AgencyRejected` (final), `AgencyUnavailable` / `AgencyRateLimited` /
  `OutcomeUnknown` (retry), `AgencyAuthFailed`, `NotFound`, `BadRequest`, `ValidationFailed`,
  `UnsupportedByAgency`.
- **The upstream client** — `UpstreamClient.request(...)` is the only way an adapter reaches
  its agency (auth: `BearerAuth`, `OAuth2ClientCredentials`; rate limits, retries of reads,
  the circuit breaker and the error table are inside it). `SharedState` is what
  `AdapterContext.checkpoints` offers for small durable checkpoints.
- **Multi-step writes** — `Steps(op)` runs a write made of several agency calls (debtor,
  claims, release) so that every attempt resumes at the step it was in: each step's result is
  checkpointed with the operation (`StepLog`, through `OperationContext.fix_request`), a step
  that may have been sent is looked up at the agency before it is sent again, a finished step
  is never redone (adapters/steps.py).
- **Paging helpers** — pure functions for the three ways agencies page (below).
- **The sandbox toolkit** — `SandboxState` (fault switches + ledger), `with_faults`,
  `serve_in_thread`, `FaultPlan`, `LedgerEntry`, `ActivityPlan` (the agency acting on its own).

Paging. The gateway asks an adapter for at most `limit` items from `position` (None = the
start) and seals the `next_position` it answers into an opaque cursor; the position is the
adapter's own string. The helpers cover:

- **offset** agencies (`?offset=&limit=`) and lists read whole (`page_of`): the position is an
  item offset (`parse_offset`); `offset_page` builds the page and knows whether there is more
  *without an extra round trip* — from the agency's total, or by asking for `limit + 1` items
  and keeping `limit` (the extra item only says "there is more": `asked=limit + 1`);
- **page-numbered** agencies (`?page=&pageSize=`, numbered from 0 or from 1): the position is
  still an item offset; `page_window` says which agency pages hold the window and cuts it out;
- **cursor** agencies (`?cursor=`): the position is the agency's cursor, plus how many items
  of that cursor's page the gateway has already served when the agency's page is longer than
  the gateway's limit (`cursor_position` / `open_cursor_position`).

A position that is not one of ours raises `BadRequest(code="invalid_cursor")`: positions arrive
sealed by the gateway, so this only happens across an adapter upgrade that changed its format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

import msgspec

from adapters._upstream import (
    Auth,
    BearerAuth,
    MemorySharedState,
    OAuth2ClientCredentials,
    RateLimit,
    SharedState,
    UpstreamClient,
    UpstreamResponse,
)
from adapters.base import (
    CAPABILITIES,
    FEEDS,
    Adapter,
    AdapterContext,
    AdapterPage,
    AdapterSpec,
    AgencyClaim,
    CallbackReceiver,
    Capabilities,
    Capability,
    ChangeBatch,
    ChangeFeed,
    ChangeRecord,
    ClaimRef,
    Credential,
    Failed,
    Feed,
    FinalOutcome,
    InvoiceChanged,
    OperationContext,
    Outcome,
    PartiallyAccepted,
    PaymentCollected,
    PendingOutcome,
    ResolvedOutcome,
    SandboxSpec,
    StatusChanged,
    Submitted,
    Succeeded,
    Unreadable,
    WireExample,
    amount_examples,
    lazy_sandbox,
)
from adapters.sandbox_kit import (
    ActivityPlan,
    ASGIApp,
    FaultPlan,
    LedgerEntry,
    RunningServer,
    SandboxState,
    serve_in_thread,
    with_faults,
)
from adapters.steps import StepLog, Steps
from canonical import (
    CLAIM_STATUSES,
    CLAIM_TYPES,
    CURRENCY_EXPONENTS,
    MAX_AMOUNT,
    Address,
    Allocation,
    Attachment,
    ClaimCreate,
    ClaimStatus,
    ClaimType,
    CreditNoteCreate,
    Debtor,
    DebtorKind,
    FieldError,
    Invoice,
    InvoiceCreate,
    Money,
    MoneyError,
    OperationKind,
    Payment,
    PaymentKind,
    PaymentReport,
    PaymentReversal,
    PaymentSource,
    Problem,
    RefusedInvoice,
    Withdrawal,
    WithdrawalReason,
    claim_total,
    exponent_of,
    from_major,
    is_currency,
    to_major,
)
from canonical.problems import (
    AgencyAuthFailed,
    AgencyError,
    AgencyRateLimited,
    AgencyRejected,
    AgencyReviewTimeout,
    AgencyUnavailable,
    BadRequest,
    GatewayError,
    NotFound,
    OutcomeUnknown,
    UnsupportedByAgency,
    ValidationFailed,
)

__all__ = [
    "CAPABILITIES",
    "CLAIM_STATUSES",
    "CLAIM_TYPES",
    "CURRENCY_EXPONENTS",
    "FEEDS",
    "MAX_AMOUNT",
    "ASGIApp",
    "ActivityPlan",
    "Adapter",
    "AdapterContext",
    "AdapterPage",
    "AdapterSpec",
    "Address",
    "AgencyAuthFailed",
    "AgencyClaim",
    "AgencyError",
    "AgencyRateLimited",
    "AgencyRejected",
    "AgencyReviewTimeout",
    "AgencyUnavailable",
    "Allocation",
    "Attachment",
    "Auth",
    "BadRequest",
    "BearerAuth",
    "CallbackReceiver",
    "Capabilities",
    "Capability",
    "ChangeBatch",
    "ChangeFeed",
    "ChangeRecord",
    "ClaimCreate",
    "ClaimRef",
    "ClaimStatus",
    "ClaimType",
    "Credential",
    "CreditNoteCreate",
    "Debtor",
    "DebtorKind",
    "Failed",
    "FaultPlan",
    "Feed",
    "FieldError",
    "FinalOutcome",
    "GatewayError",
    "Invoice",
    "InvoiceChanged",
    "InvoiceCreate",
    "LedgerEntry",
    "MemorySharedState",
    "Money",
    "MoneyError",
    "NotFound",
    "OAuth2ClientCredentials",
    "OperationContext",
    "OperationKind",
    "Outcome",
    "OutcomeUnknown",
    "PageWindow",
    "PartiallyAccepted",
    "Payment",
    "PaymentCollected",
    "PaymentKind",
    "PaymentReport",
    "PaymentReversal",
    "PaymentSource",
    "PendingOutcome",
    "Problem",
    "RateLimit",
    "RefusedInvoice",
    "ResolvedOutcome",
    "RunningServer",
    "SandboxSpec",
    "SandboxState",
    "SharedState",
    "StatusChanged",
    "StepLog",
    "Steps",
    "Submitted",
    "Succeeded",
    "Unreadable",
    "UnsupportedByAgency",
    "UpstreamClient",
    "UpstreamResponse",
    "ValidationFailed",
    "WireExample",
    "Withdrawal",
    "WithdrawalReason",
    "amount_examples",
    "claim_total",
    "cursor_position",
    "exponent_of",
    "from_major",
    "is_currency",
    "lazy_sandbox",
    "offset_page",
    "open_cursor_position",
    "page_of",
    "page_window",
    "parse_offset",
    "serve_in_thread",
    "to_major",
    "unreadable",
    "with_faults",
]

T = TypeVar("T")

#: Longest offset a position may hold: larger numbers are garbage, not a list this long.
_MAX_OFFSET_DIGITS = 12


def _invalid(position: str, what: str) -> BadRequest:
    return BadRequest(f"{position[:40]!r} is not {what}", code="invalid_cursor")


# --- offset positions ------------------------------------------------------------------------


def parse_offset(position: str | None) -> int:
    """The item offset a position holds: None (the first page) is 0.

    Only plain decimal digits are an offset (no sign, no spaces, no `1e3`); anything else raises
    `BadRequest(code="invalid_cursor")` before the agency is asked.
    """
    if position is None:
        return 0
    if position.isascii() and position.isdigit() and len(position) <= _MAX_OFFSET_DIGITS:
        return int(position)
    raise _invalid(position, "a list offset")


def offset_page(
    items: Sequence[T], offset: int, limit: int, *, total: int | None = None, asked: int | None = None
) -> AdapterPage:
    """The page of `items` read from `offset`, and where the next page starts (None at the end).

    `asked` is how many items the agency was asked for (default `limit`). Whether more follows
    is decided without another call to the agency, by the first of:
    - more than `limit` items came back: the caller asked for `limit + 1` (`asked=limit + 1`);
      the extra item is dropped and only says that there is more — the way to page an agency
      that gives no total without ever fetching an empty last page;
    - `total`: the agency's count of items in the whole list;
    - otherwise a page as long as what was asked for *may* be followed by more, so the position
      moves on (and the next call may find an empty page); a shorter page is the last.
    """
    if offset < 0 or limit < 1:
        raise ValueError(f"bad window: offset {offset}, limit {limit}")
    kept = list(items[:limit])
    end = offset + len(kept)
    if len(items) > limit:
        more = True
    elif total is not None:
        more = end < total
    else:
        more = len(items) >= (limit if asked is None else asked)
    return AdapterPage(items=kept, next_position=str(end) if more else None)


def page_of(items: Sequence[T], position: str | None, limit: int) -> AdapterPage:
    """One page of a list the agency returns whole (one call gives every item): by offset."""
    offset = parse_offset(position)
    return offset_page(items[offset : offset + max(1, limit)], offset, max(1, limit), total=len(items))


# --- page-numbered agencies --------------------------------------------------------------------


class PageWindow(msgspec.Struct, frozen=True, kw_only=True):
    """Which fixed-size agency pages hold the items [offset, offset + limit).

    Fetch the agency pages `pages` in order, concatenate their items and `cut` them: what is
    left is the window. Page numbers start at `first_page` (0 or 1, as the agency counts).
    """

    offset: int
    limit: int
    page_size: int
    first_page: int = 1

    @property
    def pages(self) -> range:
        """Agency page numbers to fetch, first to last."""
        first = self.offset // self.page_size
        last = (self.offset + self.limit - 1) // self.page_size
        return range(first + self.first_page, last + self.first_page + 1)

    @property
    def skip(self) -> int:
        """Items of the first fetched page that come before the window."""
        return self.offset % self.page_size

    def cut(self, items: Sequence[T]) -> list[T]:
        """The window out of the fetched pages' items (concatenated in page order)."""
        return list(items[self.skip : self.skip + self.limit])

    def is_last(self, last_page_items: int, *, total: int | None = None) -> bool:
        """Whether the window reaches the end of the list, known from the pages already fetched:
        from the agency's `total`, else because the last page fetched came back short."""
        if total is not None:
            return self.offset + self.limit >= total
        return last_page_items < self.page_size


def page_window(offset: int, limit: int, page_size: int, *, first_page: int = 1) -> PageWindow:
    """The agency pages (of `page_size` items, numbered from `first_page`) that cover a window.

    >>> page_window(5, 4, 3, first_page=0).pages   # items 5..8 are on pages 1 and 2
    range(1, 3)
    """
    if offset < 0 or limit < 1 or page_size < 1 or first_page not in (0, 1):
        raise ValueError(
            f"bad window: offset {offset}, limit {limit}, pages of {page_size} from {first_page}"
        )
    return PageWindow(offset=offset, limit=limit, page_size=page_size, first_page=first_page)


# --- cursor agencies ---------------------------------------------------------------------------


def cursor_position(cursor: str, skip: int = 0) -> str:
    """A position for a cursor-paged agency: its cursor, and how many items of the page that
    cursor opens the gateway has already served (when the agency's page is longer than the
    gateway's limit, the rest of it is served from the same cursor)."""
    if skip < 0:
        raise ValueError(f"skip {skip} is negative")
    return f"{skip}:{cursor}"


def open_cursor_position(position: str | None) -> tuple[str | None, int]:
    """(agency cursor, items of its page to skip) out of a `cursor_position`; (None, 0) first."""
    if position is None:
        return None, 0
    skip, colon, cursor = position.partition(":")
    if not colon or not cursor or not (skip.isascii() and skip.isdigit()) or len(skip) > _MAX_OFFSET_DIGITS:
        raise _invalid(position, "an agency cursor position")
    return cursor, int(skip)


# --- change feeds ------------------------------------------------------------------------------

#: How much of an unreadable record an adapter hands over (the gateway keeps a bounded prefix too).
_UNREADABLE_KEEP = 4096


def unreadable(
    raw: bytes | str, reason: str, *, record_id: str | None = None, agency_reference: str | None = None
) -> Unreadable:
    """An `Unreadable` change record for an agency record the adapter could not read.

    Without the agency's own id (the record was too broken to tell) the id is derived from the
    record's bytes, so the same broken record read again is quarantined once, not again and again.
    """
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    text = data[:_UNREADABLE_KEEP].decode("utf-8", errors="replace")
    return Unreadable(
        record_id=record_id or f"unreadable:{hashlib.sha256(data).hexdigest()[:32]}",
        agency_reference=agency_reference,
        raw=text,
        reason=reason[:500],
    )
