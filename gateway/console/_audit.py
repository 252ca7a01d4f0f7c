"""Audit: who changed what, when and why — the admin API's audit feed, a page at a time."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from gateway.console._web import AdminDep, render
from gateway.services.tenants import TenantService

__all__ = ["AUDIT_PAGE", "audit"]

AUDIT_PAGE = 50


@get("/audit", include_in_schema=False)
async def audit(admin: AdminDep, request: Request[Any, Any, Any]) -> Template:
    page = await TenantService(admin.runtime).audit(
        request.query_params.get("cursor") or None, AUDIT_PAGE, newest_first=True
    )
    return render("audit.html.j2", admin, page="audit", entries=page.data, next_cursor=page.next_cursor)
