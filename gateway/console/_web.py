"""The plumbing every console page shares: who is logged in, CSRF, security headers, errors.

Pages render with Litestar's Jinja templates (templates/), styles come from static/ (no inline
script or style anywhere, so the CSP forbids both). Failures render as HTML, never problem+json:
no session → 303 to the login page; a refused form → the page again with what was wrong.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template

from canonical.problems import GatewayError
from gateway.auth import Principal
from gateway.console._session import (
    SESSION_COOKIE,
    Session,
    csrf_token,
    open_session,
    session_secret,
    tokens_match,
)
from gateway.routes._shared import Services

__all__ = [
    "CONSOLE",
    "CONSOLE_EXCEPTIONS",
    "CSRF_FIELD",
    "Admin",
    "AdminDep",
    "CsrfRefused",
    "LoginRequired",
    "console_error",
    "harden",
    "is_https",
    "provide_admin",
    "render",
    "secret_of",
    "security_headers",
    "services_of",
    "session_cookie",
]

log = logging.getLogger(__name__)

CONSOLE = "/console"
CSRF_FIELD = "csrf_token"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class LoginRequired(Exception):
    """No valid session: the console answers with the login page."""


class CsrfRefused(GatewayError):
    status = 403
    code = "csrf_refused"
    title = "Forbidden"


class Admin:
    """The logged-in admin: the key's principal, its session, and the services it acts through."""

    def __init__(self, principal: Principal, session: Session, services: Services, secret: bytes) -> None:
        self.principal = principal
        self.session = session
        self.services = services
        self.csrf = csrf_token(session, secret)

    @property
    def runtime(self) -> Any:
        return self.services.runtime


AdminDep = NamedDependency[Admin]


def services_of(request: Request[Any, Any, Any]) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def secret_of(services: Services) -> bytes:
    runtime = services.runtime
    if not runtime.cursor_key:
        await runtime.ensure_ready()
    return session_secret(runtime.cursor_key)


async def provide_admin(request: Request[Any, Any, Any]) -> Admin:
    """The session's admin key, re-read on every request (revoked or no longer admin → log in again).

    POSTs must carry the session's CSRF token in the form; anything else is refused before the
    handler runs."""
    services = services_of(request)
    secret = await secret_of(services)
    session = open_session(request.cookies.get(SESSION_COOKIE), secret)
    if session is None:
        raise LoginRequired
    record = next((k for k in await services.runtime.store.list_api_keys() if k.id == session.key_id), None)
    if record is None or record.revoked_at is not None or "admin" not in record.scopes:
        raise LoginRequired
    principal = Principal(
        key_id=record.id, name=record.name, tenant=record.tenant, scopes=frozenset(record.scopes)
    )
    admin = Admin(principal, session, services, secret)
    if request.method == "POST":
        form = await request.form()
        if not tokens_match(form.get(CSRF_FIELD), admin.csrf):
            raise CsrfRefused("the form's CSRF token is missing or not this session's: reload the page")
    return admin


def render(name: str, admin: Admin | None, status_code: int = 200, **context: Any) -> Template:
    return Template(
        template_name=name,
        context={"admin": admin, "csrf_field": CSRF_FIELD, "console": CONSOLE, **context},
        status_code=status_code,
        media_type="text/html",
    )


def session_cookie(value: str, request: Request[Any, Any, Any], max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path=CONSOLE,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def is_https(request: Request[Any, Any, Any]) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


async def security_headers(response: Response[Any]) -> Response[Any]:
    """After every console response: no inline script or style, no framing, nothing cached."""
    return harden(response)


def harden(response: Response[Any]) -> Response[Any]:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


#: Every failure of a console page, whatever layer raised it (the app's own handlers answer in
#: problem+json; Litestar picks the handler for the most specific class, so each is named here).
CONSOLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    LoginRequired,
    GatewayError,
    ValidationException,
    HTTPException,
    Exception,
)


def console_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Console failures as pages: the login page for no session, an error page otherwise."""
    if isinstance(exc, LoginRequired):
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return harden(Redirect(f"{CONSOLE}/login?next={quote(target, safe='')}", status_code=303))
    if isinstance(exc, GatewayError):
        status, detail = exc.status, exc.detail or exc.title
    elif isinstance(exc, HTTPException):
        status, detail = exc.status_code, exc.detail
    else:
        log.exception("console page failed")
        status, detail = 500, "the console failed; see the gateway's logs"
    return harden(render("error.html.j2", None, status_code=status, status=status, detail=detail))
