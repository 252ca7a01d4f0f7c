"""Operations: stuck and failed first, filters, one operation's history, retry of a failed one.

Lists page through the store (20 a page, a cursor for the next), never loading every operation;
a status filter reads that status's index. Retry is `OperationService.retry`, the one way an
operation is queued again (audited, with a required reason).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from canonical import OperationStatus
from canonical.problems import GatewayError
from gateway.console._tenants import problem_of
from gateway.console._web import CONSOLE, AdminDep, render
from gateway.services.operations import OperationService, retry_refusal

__all__ = ["STUCK_QUEUED", "STUCK_SUBMITTED", "operation", "operations", "retry_operation"]

PAGE = 20
#: Queued this long (not at the agency yet) counts as stuck.
STUCK_QUEUED = dt.timedelta(minutes=5)
#: Submitted this long (the agency has not told the outcome) counts as stuck.
STUCK_SUBMITTED = dt.timedelta(minutes=30)
STATUSES: tuple[str, ...] = get_args(OperationStatus)


def _minutes(text: Any) -> dt.timedelta | None:
    try:
        value = float(str(text))
    except (TypeError, ValueError):
        return None
    return dt.timedelta(minutes=value) if value > 0 else None


@get("/operations", include_in_schema=False)
async def operations(admin: AdminDep, request: Request[Any, Any, Any]) -> Template:
    query = request.query_params
    settings = admin.runtime.settings
    tenants = sorted(settings.tenants)
    tenant = query.get("tenant") or (tenants[0] if tenants else "")
    status = query.get("status") or None
    if status not in STATUSES:
        status = None
    agency = query.get("agency") or None
    older_than = _minutes(query.get("older_than"))
    cursor = query.get("cursor") or None
    service = OperationService(admin.runtime)
    attention = not status and not agency and not older_than and not cursor
    stuck = failed = None
    if attention:
        stuck = await service.stuck(tenant, queued_for=STUCK_QUEUED, submitted_for=STUCK_SUBMITTED)
        failed = await service.page(tenant, status="failed", limit=PAGE)
    listing = await service.page(
        tenant, status=status, agency=agency, older_than=older_than, cursor=cursor, limit=PAGE
    )
    return render(
        "operations.html.j2",
        admin,
        page="operations",
        tenants=tenants,
        agencies=sorted(settings.agencies),
        statuses=STATUSES,
        tenant=tenant,
        status=status or "",
        agency=agency or "",
        older_than=query.get("older_than") or "",
        stuck=stuck,
        failed=failed,
        listing=listing,
        stuck_queued=int(STUCK_QUEUED.total_seconds() // 60),
        stuck_submitted=int(STUCK_SUBMITTED.total_seconds() // 60),
    )


async def _operation_page(
    admin: AdminDep,
    operation_id: str,
    *,
    status_code: int = 200,
    problem: dict[str, Any] | None = None,
    retried: bool = False,
) -> Template:
    record = await OperationService(admin.runtime).get(operation_id)
    return render(
        "operation.html.j2",
        admin,
        status_code=status_code,
        page="operations",
        op=record,
        refusal=retry_refusal(record),
        problem=problem,
        retried=retried,
    )


@get("/operations/{operation_id:str}", include_in_schema=False)
async def operation(
    admin: AdminDep, operation_id: FromPath[str], request: Request[Any, Any, Any]
) -> Template:
    return await _operation_page(admin, operation_id, retried=bool(request.query_params.get("retried")))


@post("/operations/{operation_id:str}/retry", include_in_schema=False, status_code=303)
async def retry_operation(
    admin: AdminDep, operation_id: FromPath[str], request: Request[Any, Any, Any]
) -> Redirect | Template:
    form = await request.form()
    try:
        await OperationService(admin.runtime).retry(
            operation_id, str(form.get("reason") or ""), admin.principal
        )
    except GatewayError as exc:
        return await _operation_page(admin, operation_id, status_code=exc.status, problem=problem_of(exc))
    return Redirect(f"{CONSOLE}/operations/{operation_id}?retried=1", status_code=303)
