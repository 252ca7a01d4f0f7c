"""Operations: stuck and failed first, filters, one operation's attempts, retry of a failed one."""

from __future__ import annotations

from litestar import get, post
from litestar.params import FromPath
from litestar.response import Template

from gateway.console._web import AdminDep, render

__all__ = ["operation", "operations", "retry_operation"]


@get("/operations", include_in_schema=False)
async def operations(admin: AdminDep) -> Template:
    return render("error.html.j2", admin, page="operations", status=501, detail="coming next")


@get("/operations/{operation_id:str}", include_in_schema=False)
async def operation(admin: AdminDep, operation_id: FromPath[str]) -> Template:
    return render("error.html.j2", admin, page="operations", status=501, detail="coming next")


@post("/operations/{operation_id:str}/retry", include_in_schema=False)
async def retry_operation(admin: AdminDep, operation_id: FromPath[str]) -> Template:
    return render("error.html.j2", admin, page="operations", status=501, detail="coming next")
