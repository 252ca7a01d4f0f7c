"""Logging in with an admin API key, and out.

The key is checked exactly as the API checks a Bearer key (gateway.auth), and a refused key lands
in the audit feed the same way (`auth.refused`, at the same bounded rate). A key without the
`admin` scope cannot log in. A successful login is audited too (`console.login`).
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from canonical.problems import Forbidden, Unauthorized
from gateway.auth import audit_refusal, authenticate, require_admin
from gateway.console._session import (
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_SECONDS,
    login_token,
    new_session,
    seal_session,
    tokens_match,
)
from gateway.console._web import (
    CONSOLE,
    CSRF_FIELD,
    AdminDep,
    CsrfRefused,
    is_https,
    render,
    secret_of,
    services_of,
    session_cookie,
)
from gateway.stores import AuditEntry, new_id, utcnow

__all__ = ["home", "login", "login_form", "logout"]


def _safe_next(target: str | None) -> str:
    """Only a console path: never an open redirect to another site."""
    if target and target.startswith(f"{CONSOLE}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{CONSOLE}/tenants"


async def _login_page(
    request: Request[Any, Any, Any], error: str | None = None, status_code: int = 200
) -> Template:
    nonce = secrets.token_urlsafe(16)
    secret = await secret_of(services_of(request))
    page = render(
        "login.html.j2",
        None,
        status_code=status_code,
        token=login_token(nonce, secret),
        error=error,
        next=_safe_next(request.query_params.get("next")),
    )
    page.cookies.append(
        Cookie(
            key=LOGIN_COOKIE,
            value=nonce,
            path=CONSOLE,
            max_age=LOGIN_SECONDS,
            httponly=True,
            samesite="strict",
            secure=is_https(request),
        )
    )
    return page


@get("/", include_in_schema=False)
async def home() -> Redirect:
    return Redirect(f"{CONSOLE}/tenants", status_code=303)


@get("/login", include_in_schema=False)
async def login_form(request: Request[Any, Any, Any]) -> Template:
    return await _login_page(request)


@post("/login", include_in_schema=False, status_code=303)
async def login(request: Request[Any, Any, Any]) -> Redirect | Template:
    services = services_of(request)
    secret = await secret_of(services)
    form = await request.form()
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or not tokens_match(form.get(CSRF_FIELD), login_token(nonce, secret)):
        raise CsrfRefused("the login form's CSRF token is missing or stale: reload the login page")
    key = str(form.get("api_key") or "").strip()
    try:
        principal = await authenticate(services.runtime.store, f"Bearer {key}")
        require_admin(principal)
    except (Unauthorized, Forbidden) as exc:
        # the API's own refusal audit: same entry, same bounded rate (a login flood cannot flush
        # the audit feed)
        await audit_refusal(exc, request.scope)
        message = (
            "this key has no admin scope: the console is for admin keys"
            if isinstance(exc, Forbidden)
            else "the API key is not valid"
        )
        return await _login_page(request, message, exc.status)
    session = new_session(principal.key_id)
    await services.runtime.store.append_audit(
        AuditEntry(
            id=new_id("aud"),
            at=utcnow(),
            actor=principal.name,
            action="console.login",
            detail={"key_id": principal.key_id},
        )
    )
    response = Redirect(_safe_next(str(form.get("next") or "")), status_code=303)
    response.cookies.append(session_cookie(seal_session(session, secret), request, SESSION_SECONDS))
    response.cookies.append(Cookie(key=LOGIN_COOKIE, value="", path=CONSOLE, max_age=0, expires=0))
    return response


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any], admin: AdminDep) -> Redirect:
    response = Redirect(f"{CONSOLE}/login", status_code=303)
    response.cookies.append(session_cookie("", request, 0))
    return response
