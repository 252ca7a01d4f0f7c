"""Request ids on every response; one access log line and the HTTP metrics per request.

`observe_requests` wraps the app's whole ASGI handler (create_app installs it), outside the
router, so the 404 and 405 answers the router gives before any route middleware runs are
counted, logged and carry the request id too. Per request it:

- decides the id once (kept in the scope state as `request_id`): a sane client `X-Request-Id` is echoed, any other is
  replaced by a fresh one; it is put on the response (`X-Request-Id`) and bound into the log
  context for every line written while the request runs;
- counts it by method, route and status, observes its latency, and writes one access line:
  method, route (the template, e.g. /v1/tenants/{tenant:str}/claims — never the path with
  ids), status, duration_ms, request_id, tenant and key_id (when a key was presented and
  known), trace_id (when traces are on), and the ids the request bound (operation_id,
  claim_id). The request only notes these (`_http.note`, one tuple); they are counted and the lines written
  in batches, within a second (adapters/_upstream/tally.py), with the time the request ended.

This runs on every request, so it is written for cost (bench/README.md "What logs and metrics
cost"): a fresh id is a per-process random prefix and a counter, not a uuid4 (which reads the
OS's random source each time), the status stays a number until its label set is first counted,
and the counting and the line are left to a batch.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Awaitable, Iterator
from operator import itemgetter

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters._upstream.tally import Entry, Tally
from gateway import metrics
from gateway.logs import LOG_CONTEXT, write_access_lines

__all__ = ["UNMATCHED_ROUTE", "observe_requests"]

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: The route label of a request no route matched (404/405 from the router): the path is never a label.
UNMATCHED_ROUTE = "unmatched"


def _write_access_lines(batch: list[Entry]) -> None:
    """The access lines of a batch of requests (`_http`'s `then`), in the order they ended."""
    # A request noted when it ended on the performance clock; its line says when on the wall clock.
    write_access_lines(batch, time.time() - time.perf_counter())


#: Per request, one flat tuple (an AccessRow, gateway/logs.py): its counter labels (method, route,
#: status), its latency, and what its access line needs — when it ended, the log context, tenant,
#: key id, trace id; counted and written in batches (adapters/_upstream/tally.py).
_http = Tally(metrics.HTTP_REQUESTS, metrics.HTTP_LATENCY, then=_write_access_lines)

#: Fresh request ids: 32 hex digits, 16 random per process (drawn again after a fork; the top bit
#: set, so the number always has 32 digits) and a 16-digit counter. Unique across processes and
#: restarts with the odds of a 63-bit random draw, ordered within a process. `next(_ids)` is one
#: C call (count, hex, cut the "0x"): no format spec to parse, no Python frame; uuid4 would read
#: the OS's random source each time.
_ids: Iterator[str] = iter(())


def _new_id_source() -> None:
    global _ids
    base = (int.from_bytes(os.urandom(8), "big") | 1 << 63) << 64
    _ids = map(itemgetter(slice(2, None)), map(hex, itertools.count(base + 1)))


_new_id_source()
os.register_at_fork(after_in_child=_new_id_source)


def observe_requests(app: ASGIApp) -> ASGIApp:
    """The outermost ASGI layer of the gateway: request id, access line, HTTP metrics.

    It runs on every request, where the rest of the request has pushed it out of the CPU's
    caches: each step costs several times what it costs in a loop (bench/README.md), so it does
    the least it can — no Python function of its own but `note`, one tuple noted — and leaves
    the counting and the line to the batch (`_http`). bench/_servers.identified repeats the
    request id part (the contract's share, the benchmark's "off"): change both together."""
    note = _http.note
    clock = time.perf_counter
    context = LOG_CONTEXT

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # lifespan scopes pass here too
            await app(scope, receive, send)
            return
        started = clock()
        # A sane client X-Request-Id is echoed, any other replaced (names are lower case in ASGI).
        sent = dict(scope["headers"]).get(b"x-request-id")
        rid = text if sent is not None and _VALID_ID.match(text := sent.decode("latin-1")) else next(_ids)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = rid
        token = context.set({"request_id": rid})
        status = 500

        # Not a coroutine of its own: it hands back `send`'s, which the app awaits (one frame and
        # one coroutine object less per message).
        def send_observed(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # The one place X-Request-Id is set: no handler sets its own.
                headers = message.get("headers")
                if type(headers) is list:
                    headers.append((b"x-request-id", rid.encode()))
                else:
                    message["headers"] = [*(headers or ()), (b"x-request-id", rid.encode())]
            return send(message)

        try:
            await app(scope, receive, send_observed)
        finally:
            ended = clock()
            method = scope["method"]  # type: ignore[typeddict-item]  # an http scope (checked above)
            if method not in _METHODS:  # a label value a client could invent
                method = "OTHER"
            note(
                (
                    (method, scope.get("path_template") or UNMATCHED_ROUTE, status),
                    ended - started,
                    ended,
                    context.get(),
                    state.get("tenant"),
                    state.get("key_id"),
                    state.get("trace_id"),
                )
            )
            context.reset(token)

    observed.__wrapped__ = app  # type: ignore[attr-defined]  # bench/observability.py measures without
    return observed
