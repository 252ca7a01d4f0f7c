"""What every controller needs: dependencies, problem response docs, write plumbing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Generator
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar._openapi.schema_generation import SchemaCreator
from litestar.di import NamedDependency
from litestar.dto import AbstractDTO, DTOFieldDefinition
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Reference, Schema
from litestar.params import QueryParameter
from litestar.typing import FieldDefinition

from canonical import FieldError, Operation, Problem
from canonical.problems import BadRequest, UnsupportedMediaType, ValidationFailed
from gateway.auth import KeyCache, Principal, RefusalSampler, authenticate, require_tenant
from gateway.demo import DEMO_CLAIM
from gateway.problems import json_pointer
from gateway.runtime import Runtime
from gateway.services.reads import ReadService
from gateway.services.webhooks import WebhookService
from gateway.services.writes import Idempotency, WriteService
from gateway.stores import StoredResponse

T = TypeVar("T")

__all__ = [
    "CLAIM_CREATE_RESPONSES",
    "FOLLOW_UP_RESPONSES",
    "READ_PROBLEMS",
    "WRITE_PROBLEMS",
    "Cursor",
    "Limit",
    "PrincipalDep",
    "Services",
    "ServicesDep",
    "StrictBody",
    "answer_write",
    "authenticate_first",
    "decode_strict",
    "prefer_wait",
    "problem_spec",
    "provide_principal",
    "provide_services",
    "strict_body",
]


class Services:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.reads = ReadService(runtime)
        self.writes = WriteService(runtime)
        self.webhooks = WebhookService(runtime)
        self.refusals = RefusalSampler(runtime.settings.audit_refusals_per_minute)
        self.keys = KeyCache(runtime.store)


#: `?limit=` of every list (api.md: 1-100, default 20) and `?cursor=`.
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="page size, 1-100")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]

PrincipalDep = NamedDependency[Principal]
ServicesDep = NamedDependency[Services]


def problem_spec(description: str) -> ResponseSpec:
    """An OpenAPI response: problem+json with what its codes mean."""
    return ResponseSpec(
        data_container=Problem, description=description, media_type="application/problem+json"
    )


READ_PROBLEMS: dict[int, ResponseSpec] = {
    400: problem_spec("invalid_parameter or invalid_cursor"),
    401: problem_spec("unauthorized"),
    403: problem_spec("forbidden: the key lacks the scope"),
    404: problem_spec("not_found: no such resource for this key"),
    503: problem_spec("agency_unavailable, agency_rate_limited (Retry-After) or store_unavailable"),
}
WRITE_PROBLEMS: dict[int, ResponseSpec] = {
    **READ_PROBLEMS,
    400: problem_spec("malformed_json, idempotency_key_missing, idempotency_key_invalid"),
    409: problem_spec("idempotency_in_progress or duplicate_client_reference"),
    413: problem_spec("request_too_large"),
    422: problem_spec("validation_failed (errors[].pointer), unsupported_by_agency, idempotency_key_reused"),
}


def _final(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=Operation, description=description)


#: A write answers 202 with the Operation, or (Prefer: wait) its final state when it ended in time.
CLAIM_CREATE_RESPONSES: dict[int, ResponseSpec] = {
    **WRITE_PROBLEMS,
    201: _final("Prefer: wait - the claim was created at its agency in time: the succeeded Operation"),
    200: _final("Prefer: wait - the operation failed in time: the failed Operation (error says why)"),
}
FOLLOW_UP_RESPONSES: dict[int, ResponseSpec] = {
    **WRITE_PROBLEMS,
    200: _final("Prefer: wait - the operation ended in time: the succeeded or failed Operation"),
}


async def authenticate_first(request: Request[Any, Any, Any]) -> None:
    """`before_request`: a route that needs a key checks it before the body is read, so a caller
    without a valid key never makes the gateway read (or decode) a body."""
    handler = request.route_handler
    if "principal" in handler.parsed_fn_signature.parameters:
        principal = await provide_principal(request)
        requires = handler.opt.get("requires")
        if requires:  # a tenant route decoding its body with StrictBody: its scope first, too
            require_tenant(principal, request.path_params["tenant"], requires)


async def provide_principal(
    request: Request[Any, Any, Any], services: NamedDependency[Any] = None
) -> Principal:
    """The `principal` dependency. It takes `services` so that Litestar resolves the two one after
    the other: two independent dependencies are resolved in an anyio task group, which costs more
    than both (issue 18's profile)."""
    state = request.scope["state"]
    known: Principal | None = state.get("principal")
    if known is not None:
        return known
    services = services or request.app.state.services
    principal = await authenticate(
        services.runtime.store, request.headers.get("authorization"), services.keys
    )
    state["principal"] = principal
    state["key_id"] = principal.key_id  # for the access log line (gateway/middleware.py)
    state["tenant"] = principal.tenant
    return principal


def provide_services(request: Request[Any, Any, Any]) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_canonical = msgspec.json.Encoder(order="sorted")
_AT = re.compile(r"^(?P<text>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)


async def strict_body(request: Request[Any, Any, Any], type_: type[T], *, optional: bool = False) -> T | None:
    """The body decoded strictly: a float or a string where an integer amount belongs is refused.

    Litestar's own `data` conversion is lenient (msgspec `strict=False` turns `120.0` and
    `"12000"` into 12000); money must never be coerced. Routes whose `data` goes through the
    `StrictBody` DTO get it decoded once, strictly; the others decode the raw body here.
    """
    raw = await request.body()
    if optional and not raw.strip():
        return None
    return decode_strict(raw, request.headers.get("content-type"), type_)  # type: ignore[no-any-return]


def decode_strict(raw: bytes, content_type: str | None, type_: Any) -> Any:
    """`raw` as `type_`, strictly; problems name the field (RFC 6901 pointer)."""
    media_type = (content_type or "application/json").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"send the body as application/json, not {media_type}")
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        try:  # a body that is not JSON at all is malformed, whatever the type saw first
            msgspec.json.decode(raw)
        except msgspec.DecodeError as not_json:
            raise BadRequest(f"the body is not JSON: {not_json}", code="malformed_json") from None
        except RecursionError:
            raise BadRequest("the body is not JSON: nested too deeply", code="malformed_json") from None
        match = _AT.match(str(exc))
        assert match is not None
        text, path = match.group("text"), match.group("path") or ""
        pointer = json_pointer(path)
        unknown = re.match(r"Object contains unknown field `(.+)`", text)
        if unknown:
            pointer = f"{pointer}/{unknown.group(1)}"
        missing = re.match(r"Object missing required field `(.+)`", text)
        if missing:
            pointer = f"{pointer}/{missing.group(1)}"
        raise ValidationFailed([FieldError(pointer=pointer, detail=text)]) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}", code="malformed_json") from None
    except RecursionError:
        raise BadRequest("the body is not JSON: nested too deeply", code="malformed_json") from None


class StrictBody(AbstractDTO[T]):
    """`dto=StrictBody[Type]`: the route's `data` decoded once, strictly (`decode_strict`), instead of
    Litestar's lenient conversion followed by a strict decode of the same bytes (issue 18). The
    OpenAPI request schema stays the type's own, examples included."""

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        return None  # no backend: decode_bytes decodes by itself

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(field_definition)

    def decode_bytes(self, value: bytes) -> Any:
        return decode_strict(value, self.asgi_connection.headers.get("content-type"), self.model_type)


_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


def prefer_wait(prefer: str) -> int:
    """`Prefer: wait=N` in seconds, at most 30 (however many digits N has)."""
    match = _WAIT.search(prefer)
    if match is None:
        return 0
    digits = match.group(1).lstrip("0")
    return 30 if len(digits) > 2 else min(int(digits or "0"), 30)


async def answer_write(
    request: Request[Any, Any, Any],
    services: Services,
    tenant: str,
    execute: Callable[[Idempotency], Awaitable[StoredResponse]],
    decoded: object,
) -> Response[bytes]:
    """Idempotency, `Prefer: wait=N`, and the stored answer sent byte for byte.

    The key's fingerprint is of the decoded body (`decoded`, encoded again), as Stripe does: the
    same JSON with other whitespace or member order is the same request and replays.
    """
    wait = prefer_wait(request.headers.get("prefer", ""))
    response, replayed = await services.writes.idempotent(
        tenant=tenant,
        key=request.headers.get("idempotency-key"),
        method=request.method,
        path=request.url.path,
        body=_canonical.encode(decoded),
        execute=execute,
        wait_seconds=wait,
    )
    headers = {k: v for k, v in response.headers.items() if k != "content-type"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    elif wait:
        headers["Preference-Applied"] = f"wait={wait}"
    return Response(
        content=response.body,
        status_code=response.status,
        media_type=response.headers.get("content-type", "application/json"),
        headers=headers,
    )


EXAMPLE_CLAIM = Example(summary="A claim with one invoice", value=DEMO_CLAIM)
