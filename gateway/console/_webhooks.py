"""Webhooks: endpoints, recent deliveries and redelivery — once the webhook service is on main.

Until then the page says so; nothing here writes.
"""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from gateway.console._web import AdminDep, render

__all__ = ["webhooks"]


@get("/webhooks", include_in_schema=False)
async def webhooks(admin: AdminDep) -> Template:
    return render("webhooks.html.j2", admin, page="webhooks")
