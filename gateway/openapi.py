"""The OpenAPI document as client generators need it: one pass over what Litestar derives.

Litestar derives the document from the routes and Structs; what it cannot know is added here, in
one place, so that route annotations stay small and a generator (openapi-python-client is checked
in tests/api/test_openapi_client.py) gets a typed client right:

- `Idempotency-Key` is required on every write (1-255 characters); the route itself reads it as
  optional so that a missing key is our 400 `idempotency_key_missing`, not Litestar's.
- Optional parameters are not nullable (`status=` is a string enum, not three generated enums).
- Response headers: `X-Request-Id` on every answer, `Location` and `Idempotent-Replayed` on
  writes, `Retry-After` on 429/503, `ETag` on the admin tenant document.
- Component names are the type's own (`ClaimPage`, not `Page_canonical.claims.Claim_`).
- The Problem schema names every stable `code` (canonical.problems.CODES).
- A Struct that refuses unknown fields says so (`additionalProperties: false`): StrictStructs.

`polish` is pure (document in, document out); `served_document(app)` is the polished document
of an app, built once; the docs pages render it too.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Schema
from litestar.typing import FieldDefinition

from canonical.problems import CODES

__all__ = [
    "PolishedJson",
    "PolishedScalar",
    "PolishedSwagger",
    "StrictStructs",
    "polish",
    "served_document",
]

_METHODS = ("get", "put", "post", "delete", "patch")
_GENERIC = re.compile(r"^(?P<outer>[A-Za-z0-9]+)_(?:[A-Za-z0-9_]+\.)*(?P<inner>[A-Za-z0-9]+)_$")


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string", **extra}}


HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": _string("this request's id (the client's own X-Request-Id when it sent a sane one)"),
    "Location": _string("the operation: /v1/tenants/{tenant}/operations/{operation_id}"),
    "Idempotent-Replayed": _string(
        "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
        enum=["true"],
    ),
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    },
    "ETag": _string('the routing version, quoted: "7" (send it back as If-Match)'),
}
IDEMPOTENCY_KEY = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "description": "Required on every write. A retry with the same key and body gets the first answer "
    "again (Idempotent-Replayed: true); the same key with another body is 422 idempotency_key_reused.",
}
#: Answers a write's Idempotency-Key replays besides its 2xx (stored problems).
_REPLAYED = ("200", "201", "202", "409", "422")
_WITH_ETAG = {"getTenant", "putTenant", "rollbackRouting"}


class StrictStructs(StructSchemaPlugin):
    """Struct schemas that say `additionalProperties: false` where the Struct forbids unknown fields.

    Request bodies are decoded with `forbid_unknown_fields` (canonical._base.Body): the document
    says so, and generated clients do not offer an `additional_properties` the server refuses.
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def polish(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the additions listed in the module docstring (the input is not changed)."""
    document = copy.deepcopy(document)
    _rename_components(document)
    for operation in _operations(document):
        parameters = operation.get("parameters", [])
        writes = False
        for parameter in parameters:
            if parameter["name"].lower() == "idempotency-key" and parameter["in"] == "header":
                parameter.update(required=True, schema=dict(IDEMPOTENCY_KEY))
                parameter["description"] = IDEMPOTENCY_KEY["description"]
                writes = True
            elif not parameter.get("required"):
                parameter["schema"] = _not_null(parameter["schema"])
        body = operation.get("requestBody")
        if body:
            for media in body.get("content", {}).values():
                schema = media.get("schema", {})
                if _nullable(schema):
                    media["schema"] = _not_null(schema)
                    body["required"] = False
        for status, response in operation.get("responses", {}).items():
            headers = response.setdefault("headers", {})
            headers["X-Request-Id"] = HEADERS["X-Request-Id"]
            if status in ("429", "503"):
                headers["Retry-After"] = HEADERS["Retry-After"]
            if writes and status in _REPLAYED:
                headers["Idempotent-Replayed"] = HEADERS["Idempotent-Replayed"]
            if writes and status in ("200", "201", "202"):
                headers["Location"] = {**HEADERS["Location"], "required": True}
            if operation.get("operationId") in _WITH_ETAG and status == "200":
                headers["ETag"] = {**HEADERS["ETag"], "required": True}
    problem = document.get("components", {}).get("schemas", {}).get("Problem")
    if problem is not None:
        problem["properties"]["code"]["description"] = "stable, snake_case; one of:\n" + "\n".join(
            f"- `{code}`: {meaning}" for code, meaning in CODES.items()
        )
        problem["properties"]["code"]["examples"] = list(CODES)
    return document


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for item in document.get("paths", {}).values()
        for method, operation in item.items()
        if method in _METHODS
    ]


def _rename_components(document: dict[str, Any]) -> None:
    """`Page_canonical.claims.Claim_` → `ClaimPage`, every `$ref` to it included."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for name in schemas:
        match = _GENERIC.match(name)
        if match:
            new = match.group("inner") + match.group("outer")
            if new not in schemas and new not in renames.values():
                renames[name] = new
    if not renames:
        return
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
        schemas[new]["title"] = new
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    prefix = "#/components/schemas/"

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.removeprefix(prefix) in renames:
                node["$ref"] = prefix + renames[ref.removeprefix(prefix)]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


def _nullable(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    return (
        any(part == {"type": "null"} for part in schema.get("oneOf", []))
        or (isinstance(kinds, list) and "null" in kinds)
        or None in schema.get("enum", [])
    )


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without `null`: absent is how a client says "no filter"."""
    schema = dict(schema)
    options = [part for part in schema.get("oneOf", []) if part != {"type": "null"}]
    if "oneOf" in schema and len(options) == 1:
        del schema["oneOf"]
        schema = {**options[0], **schema}
    elif "oneOf" in schema:
        schema["oneOf"] = options
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest = [kind for kind in kinds if kind != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    return schema


def served_document(app: Litestar) -> dict[str, Any]:
    """The polished document of `app`, built on first use and kept."""
    cached: dict[str, Any] | None = app.state.get("openapi_document")
    if cached is None:
        cached = app.state["openapi_document"] = polish(app.openapi_schema.to_schema())
    return cached


#: The docs pages' scripts and styles: exact versions from the CDN, each with its Subresource
#: Integrity hash (sha384 of the file in the npm package of that version), so that a changed file
#: is refused by the browser. To upgrade: `npm pack <package>@<version>` and
#: `openssl dgst -sha384 -binary <file> | base64` for each file below.
SCALAR_VERSION = "1.76.0"
SCALAR_JS = f"https://cdn.jsdelivr.net/npm/@scalar/api-reference@{SCALAR_VERSION}/dist/browser/standalone.js"
SWAGGER_VERSION = "5.18.2"
_SWAGGER = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_VERSION}"
SWAGGER_JS = f"{_SWAGGER}/swagger-ui-bundle.js"
SWAGGER_PRESET_JS = f"{_SWAGGER}/swagger-ui-standalone-preset.js"
SWAGGER_CSS = f"{_SWAGGER}/swagger-ui.css"
INTEGRITY = {
    SCALAR_JS: "sha384-oH1C0RwqcwbVXkC+r8A+4qRoyEUQdtxAzOwumkxZtQBBcsy61FOoPt7B50OVJYYQ",
    SWAGGER_JS: "sha384-NXtFPpN61oWCuN4D42K6Zd5Rt2+uxeIT36R7kpXBuY9tLnZorzrJ4ykpqwJfgjpZ",
    SWAGGER_PRESET_JS: "sha384-qr68CD0cvHa88PmVu7e1a58Ego4qvKtcvcLdS2a8Mo5zILI01gyIV9jVwJk7X2NU",
    SWAGGER_CSS: "sha384-rcbEi6xgdPk0iWkAQzT2F3FeBJXdG+ydrawGlfHAFIZG7wU6aKbQaRewysYpmrlW",
}
_LINK = re.compile(rb"<link[^>]*(?:href=\"(?P<href>[^\"]+)\")[^>]*>")


def pinned(html: bytes) -> bytes:
    """Every script and stylesheet of a docs page carries its integrity hash; one without a
    pinned hash (Litestar's unversioned branding stylesheet, its favicon) is left out."""
    for url, digest in INTEGRITY.items():
        encoded = url.encode()
        html = html.replace(
            b'src="' + encoded + b'" crossorigin',
            b'src="' + encoded + b'" integrity="' + digest.encode() + b'" crossorigin="anonymous"',
        )
        html = html.replace(
            b'href="' + encoded + b'"',
            b'href="' + encoded + b'" integrity="' + digest.encode() + b'" crossorigin="anonymous"',
        )

    def keep(match: re.Match[bytes]) -> bytes:
        return match.group(0) if match.group("href").decode() in INTEGRITY else b""

    return _LINK.sub(keep, html)


class PolishedScalar(ScalarRenderPlugin):
    def __init__(self, path: str = "/") -> None:
        super().__init__(path=path, js_url=SCALAR_JS, favicon="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return pinned(super().render(request, served_document(request.app)))


class PolishedSwagger(SwaggerRenderPlugin):
    def __init__(self, path: str = "/swagger") -> None:
        super().__init__(
            path=path,
            js_url=SWAGGER_JS,
            css_url=SWAGGER_CSS,
            standalone_preset_js_url=SWAGGER_PRESET_JS,
            favicon="",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return pinned(super().render(request, served_document(request.app)))


class PolishedJson(JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, served_document(request.app))
