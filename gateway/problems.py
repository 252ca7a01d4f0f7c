"""Rendering problems (RFC 9457) for every error, ours or the framework's."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from canonical.problems import (
    PROBLEM_BASE,
    AgencyUnavailable,
    BadRequest,
    FieldError,
    GatewayError,
    Problem,
    ValidationFailed,
)

__all__ = ["exception_handlers", "json_pointer", "problem_bytes", "problem_response"]

log = logging.getLogger("gateway.errors")
_encoder = msgspec.json.Encoder()
MEDIA_TYPE = "application/problem+json"

_FRAMEWORK_CODES = {
    400: ("invalid_parameter", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("request_too_large", "Request too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


def problem_bytes(problem: Problem) -> bytes:
    return _encoder.encode(problem)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=problem_bytes(problem), status_code=problem.status, media_type=MEDIA_TYPE, headers=headers
    )


def _gateway_error(request: Request[Any, Any, Any], exc: GatewayError) -> Response[bytes]:
    headers = {}
    if isinstance(exc, AgencyUnavailable) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    elif exc.status == 503:
        headers["Retry-After"] = "1"
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="collection-gateway"'
    return problem_response(exc.problem(instance=request.url.path), headers)


def json_pointer(key: str) -> str:
    """Litestar's `invoices[0].amount.amount` (or msgspec's `$.invoices[0]…`) → RFC 6901
    `/invoices/0/amount/amount`."""
    key = key.removeprefix("$").removeprefix(".")
    if key in ("", "data"):
        return ""
    parts = re.findall(r"[^.\[\]]+", key)
    return "/" + "/".join(_escape(p) for p in parts)


def _escape(token: str) -> str:
    """RFC 6901 reference token: `~` → `~0`, `/` → `~1`."""
    return token.replace("~", "~0").replace("/", "~1")


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    body_errors = [e for e in extra if isinstance(e, dict) and e.get("source") == "body"]
    if any(e.get("key") == "data" and e.get("message") == "'data'" for e in body_errors):
        # Litestar's way of saying the required body is absent (a KeyError on `data`): an empty
        # body is not JSON, and `'data'` means nothing to a client.
        return _gateway_error(
            request, BadRequest("the body is empty; send a JSON object", code="malformed_json")
        )
    if body_errors:
        errors = []
        for item in body_errors:
            message = str(item.get("message", "invalid"))
            pointer = json_pointer(str(item.get("key", "")))
            # msgspec names an unknown or missing member in the message and locates its parent;
            # the pointer names the member itself, as a client fixing the body needs.
            member = re.match(r"Object (?:contains unknown|missing required) field `(.+)`", message)
            if member:
                pointer = f"{pointer}/{_escape(member.group(1))}"
            errors.append(FieldError(pointer=pointer, detail=message))
        return _gateway_error(request, ValidationFailed(errors))
    details = "; ".join(f"{e.get('key')}: {e.get('message')}" for e in extra if isinstance(e, dict))
    return _gateway_error(request, BadRequest(details or str(exc.detail), code="invalid_parameter"))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    detail = str(exc.detail) if exc.detail else None
    if status == 500 and detail == "client disconnected prematurely":
        # The client went away mid-body: nobody reads this answer, and it is not our fault.
        log.info("client went away mid-body on %s %s", request.method, request.url.path)
        return _gateway_error(request, BadRequest("the body was cut short", code="malformed_json"))
    if (status == 400 and detail and "JSON is malformed" in detail) or (detail or "").startswith(
        "Input data was truncated"
    ):
        code, title = "malformed_json", "Malformed JSON"
    elif status >= 500:
        return _unexpected(request, exc)
    else:
        code, title = _FRAMEWORK_CODES.get(status, ("http_error", "HTTP error"))
    problem = Problem(
        type=PROBLEM_BASE + code,
        title=title,
        status=status,
        code=code,
        detail=detail,
        instance=request.url.path,
    )
    return problem_response(problem, dict(exc.headers or {}))


def _undecodable(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A body nested too deep to decode, or not UTF-8: the client's fault, never a 500."""
    reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid UTF-8"
    return _gateway_error(request, BadRequest(f"the body is not JSON: {reason}", code="malformed_json"))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    request_id = request.scope.get("state", {}).get("request_id")
    log.exception(
        "unhandled error on %s %s (request %s)", request.method, request.url.path, request_id, exc_info=exc
    )
    problem = Problem(
        type=PROBLEM_BASE + "internal_error",
        title="Internal error",
        status=500,
        code="internal_error",
        detail=f"a fault in the gateway; quote request id {request_id}"
        if request_id
        else "a fault in the gateway",
        instance=request.url.path,
    )
    return problem_response(problem)


exception_handlers: dict[Any, Any] = {
    GatewayError: _gateway_error,
    ValidationException: _validation,
    HTTPException: _http,
    RecursionError: _undecodable,
    UnicodeDecodeError: _undecodable,
    Exception: _unexpected,
}
