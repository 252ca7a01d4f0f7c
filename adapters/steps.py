"""Resumable multi-step writes: each step checkpointed with the operation, resumed after a crash.

Some agencies create a claim in several calls (a debtor, then its claims, then a release) and
have no idempotency key: a step resent after a lost answer creates a second debtor. `Steps`
runs such a write so that every attempt of the operation — after a worker crash, a timeout,
a 5xx — resumes at the step it was in:

    steps = Steps(op)
    debtor = await steps.step(
        "debtor",
        send=lambda: client.create_debtor(credential, body),
        look_up=lambda: client.find_debtor(credential, external_id=body.external_id),
        result=str,
    )
    claim_ids = {}
    for invoice in claim.invoices:
        claim_ids[invoice.number] = await steps.step(f"claim:{invoice.number}", ..., result=str)
    release = await steps.step("release", ..., result=str)

How it stays safe (the log is a small JSON document stored with the operation through
`OperationContext.fix_request` and handed back as `OperationContext.request` on every attempt —
the gateway stores it in the same record as the operation, so it survives a crash and moves
with the operation):

- **before a step is sent**, the log is stored saying "sending <step>";
- **when it answers**, its result is stored as done;
- a **done** step is never called again: its stored result is returned;
- a step the log says was **being sent** (the attempt crashed, timed out or lost the answer)
  is first **looked up** at the agency (`look_up`, by the references the gateway chose —
  an external id, the debtor's reference, the invoice number); found, its result is stored as
  done; not found, it is sent again;
- when an attempt has **no log** but `op.maybe_sent` (an earlier attempt ran without a store,
  e.g. a test resubmitting by hand), every step is looked up before it is sent.

`look_up` must find a step carried out by any earlier attempt of *this* operation and nothing
else: search by a reference derived from `op.idempotency_token` or the claim's own data, never
by a fresh value. Results are stored as JSON (`msgspec.to_builtins`) and read back as `result`
(str, int, dict[str, str], a msgspec Struct, ...): keep them small — agency ids, not documents.
Step names are unique within one operation and must come out the same on every attempt (derive
them from the payload, not from the clock). A write that uses `Steps` does not also use
`OperationContext.fixed` (both store through `fix_request`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from adapters.base import OperationContext

__all__ = ["StepLog", "Steps"]

T = TypeVar("T")

#: The log's format version, first in what is stored: a log of another shape is not ours.
_VERSION = 1


class StepLog(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """What `Steps` stores with the operation: results of finished steps, the step in flight."""

    v: int = _VERSION
    #: Step name → its result (JSON), in the order the steps finished.
    done: dict[str, Any] = {}
    #: The step whose request may have reached the agency without its answer reaching us.
    sending: str | None = None


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(StepLog)


class Steps:
    """One operation's multi-step write: `await steps.step(name, send=..., look_up=..., result=...)`
    for each step, in order, on every attempt (see the module's docstring)."""

    def __init__(self, op: OperationContext) -> None:
        self._op = op
        if op.request is None:
            self._log = StepLog()
            #: No log was stored: an earlier attempt may have sent any step (or none was made).
            self._unknown = op.maybe_sent
        else:
            try:
                self._log = _DECODER.decode(op.request)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise ValueError(f"operation {op.id}: its stored request is not a step log") from exc
            if self._log.v != _VERSION:
                raise ValueError(f"operation {op.id}: step log version {self._log.v} is not {_VERSION}")
            self._unknown = False

    @property
    def log(self) -> StepLog:
        """The log as it stands (for tests and diagnostics)."""
        return self._log

    def finished(self, name: str) -> bool:
        return name in self._log.done

    async def step(
        self,
        name: str,
        *,
        send: Callable[[], Awaitable[T]],
        look_up: Callable[[], Awaitable[T | None]],
        result: type[T],
    ) -> T:
        """The result of step `name`: stored (done before), found at the agency (it may have been
        sent before), or sent now — stored before it is sent, and again once it answered."""
        if name in self._log.done:
            return msgspec.convert(self._log.done[name], type=result)
        if self._log.sending == name or self._unknown:
            found = await look_up()
            if found is not None:
                await self._store(done=(name, found))
                return found
        await self._store(sending=name)
        answer = await send()
        await self._store(done=(name, answer))
        return answer

    async def _store(self, *, sending: str | None = None, done: tuple[str, Any] | None = None) -> None:
        if done is not None:
            step, value = done
            self._log.done[step] = msgspec.to_builtins(value)
            self._log.sending = None
        if sending is not None:
            self._log.sending = sending
        if self._op.fix_request is not None:
            await self._op.fix_request(_ENCODER.encode(self._log).decode())
