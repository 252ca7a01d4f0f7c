"""Agency callbacks: `POST /v1/agency-callbacks/{agency}/{tenant}` (api.md "Reads come from the
claim ledger": the ledger changes (c) from agency callbacks where the agency sends them).

No API key: the agency authenticates with the shared secret the tenant's credential names
(`callback_secret_env`, config.md Turn 2), checked by the agency's adapter (its scheme is the
agency's). What the callback reports is applied on the same ledger path as the agency's feed —
the same record ids, so a callback and the feed's later copy of the same thing make one event;
the feed (a reconcile sweep at Debbie) is the safety net for callbacks that never arrive.

Answers: 200 `{"records": n}` once applied (stored); 404 for an agency that sends no callbacks,
a tenant without that agency's credentials, or one with no `callback_secret` (never saying which);
401 `unauthorized` for a call without the secret; 503 when the store (or, for a callback that
needs a read, the agency) is unavailable — nothing was applied, the agency may send it again.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, post
from litestar.params import FromPath

from adapters.base import CallbackReceiver
from canonical.problems import NotFound, Unauthorized
from gateway.routes._shared import ServicesDep
from gateway.services.feeds import apply_pushed_records

__all__ = ["CallbackReceipt", "agency_callback"]


class CallbackReceipt(msgspec.Struct, kw_only=True):
    #: How many of the callback's records changed a ledger or were set aside (0: all known already).
    records: int


@post(
    "/v1/agency-callbacks/{agency:str}/{tenant:str}",
    operation_id="receiveAgencyCallback",
    status_code=200,
    # Called by agencies, not by internal services: not part of the API document their clients
    # are generated from (docs/agencies.md describes it per agency).
    include_in_schema=False,
)
async def agency_callback(
    request: Request[Any, Any, Any], agency: FromPath[str], tenant: FromPath[str], services: ServicesDep
) -> CallbackReceipt:
    runtime = services.runtime
    adapter = runtime.adapters.get(agency)
    credential = runtime.settings.credential(tenant, agency)
    if (
        adapter is None
        or credential is None
        or not isinstance(adapter, CallbackReceiver)
        or not credential.get("callback_secret")
    ):
        raise NotFound("no such agency callback")
    headers = {name.lower(): value for name, value in request.headers.items()}
    if not adapter.authentic_callback(credential, headers):
        raise Unauthorized("the call does not carry this tenant's callback secret")
    records = await adapter.callback_changes(credential, await request.body())
    applied = await apply_pushed_records(runtime.store, tenant, agency, credential.key, records)
    return CallbackReceipt(records=applied)
