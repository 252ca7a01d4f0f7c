"""The docs are the ops' and internal services' contract: every config key and every route is in them.

Keys are read from the Settings Structs (gateway/settings.py), routes from the app's own OpenAPI
document, so that a key or route added without its docs fails here — no hand-kept list to forget.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.registry import discover
from canonical import EVENT_TYPES
from gateway.app import create_app
from gateway.openapi import served_document
from gateway.settings import (
    AgencySettings,
    ApiKeySettings,
    ConfigError,
    RoutingRule,
    RuleMatch,
    Settings,
    TenantSettings,
    WebhookSettings,
    settings_from_mapping,
)
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import gateway_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"

#: Routes no page needs to name, each with its reason. Empty: every route is documented.
ROUTES_EXEMPT: dict[tuple[str, str], str] = {}


def _sections(text: str) -> dict[str, str]:
    """`## heading` → the text under it (up to the next `##`)."""
    parts = re.split(r"^## +(.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def _rows(section: str) -> dict[str, str]:
    """A table's first-column key (in backticks) → its default cell (the second column)."""
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) >= 2:
            match = re.fullmatch(r"`([^`]+)`", cells[0])
            if match:
                rows[match.group(1)] = cells[1]
    return rows


def _section(title: str) -> dict[str, str]:
    sections = _sections(CONFIGURATION.read_text(encoding="utf-8"))
    assert title in sections, f"docs/configuration.md has no '## {title}' section (has: {list(sections)})"
    return _rows(sections[title])


def _spellings(value: Any) -> set[str]:
    """How a default may be written in the docs' default column."""
    if value is None:
        return {"unset", "required"}
    if isinstance(value, bool):
        return {str(value).lower()}
    if isinstance(value, float) and value.is_integer():
        return {str(int(value)), str(value)}
    if isinstance(value, int | float):
        return {str(value)}
    if isinstance(value, str):
        return {value, f'"{value}"'}
    if isinstance(value, list | dict) and not value:
        return {"[]", "{}", "none", "no rules"}
    return {repr(value)}


def _file_keys(kind: type[msgspec.Struct]) -> dict[str, Any]:
    """The keys a config file may hold for `kind` → its default (`None` also when required)."""
    keys: dict[str, Any] = {}
    for field in msgspec.structs.fields(kind):
        if kind is Settings and _computed(field.name):
            continue
        if field.default is not msgspec.NODEFAULT:
            keys[field.name] = field.default
        elif field.default_factory is not msgspec.NODEFAULT:
            keys[field.name] = field.default_factory()
        else:
            keys[field.name] = None
    return keys


def _computed(name: str) -> bool:
    """A Settings field the loader fills in itself (the file may not set it)."""
    try:
        settings_from_mapping({name: None}, {}, specs={})
    except ConfigError as error:
        return "not a config key" in str(error)
    return False


SECTIONS: list[tuple[str, type[msgspec.Struct]]] = [
    ("Top level", Settings),
    ("[agencies.<name>]", AgencySettings),
    ("[tenants.<name>]", TenantSettings),
    ("[[tenants.<name>.routing.rules]]", RoutingRule),
    ("when = {…}", RuleMatch),
    ("[[api_keys]]", ApiKeySettings),
    ("[webhooks]", WebhookSettings),
]


@pytest.mark.parametrize(("title", "kind"), SECTIONS, ids=[title for title, _ in SECTIONS])
def test_every_config_key_is_documented_with_its_default(title: str, kind: type[msgspec.Struct]) -> None:
    documented = _section(title)
    nested = {
        name
        for name, default in _file_keys(kind).items()
        if isinstance(default, msgspec.Struct) or name in ("agencies", "tenants", "api_keys")
    }
    headings = "\n".join(_sections(CONFIGURATION.read_text(encoding="utf-8")))
    for name, default in _file_keys(kind).items():
        if name in nested:
            assert re.search(rf"\b{name}\b", headings), (
                f"{name}: no section of its own in docs/configuration.md"
            )
            continue
        assert name in documented, f"{title} {name}: not in docs/configuration.md"
        cell = documented[name].replace("`", "").lower()
        assert any(spelling.lower() in cell for spelling in _spellings(default)), (
            f"{title} {name}: the docs give the default as {documented[name]!r}, the code {default!r}"
        )


def test_every_credential_field_of_every_installed_adapter_is_documented() -> None:
    documented = _section("[tenants.<name>.credentials.<agency>]")
    for name, spec in discover().items():
        for field in spec.credential_fields:
            spellings = {f"{name}.{field}", f"{name}.{field}_env"}
            assert spellings & set(documented), f"credential field {name}.{field}: not documented"


def test_every_scope_is_documented() -> None:
    (scope,) = typing.get_args({f.name: f.type for f in msgspec.structs.fields(ApiKeySettings)}["scopes"])
    scopes = typing.get_args(scope)
    assert scopes, "ApiKeySettings.scopes is no longer a list of literal scopes"
    documented = _section("Scopes")
    assert set(scopes) <= set(documented), f"undocumented scopes: {set(scopes) - set(documented)}"


def _routes() -> list[tuple[str, str]]:
    specs = {"fake": fake_spec(FakeAgency())}
    document = served_document(create_app(gateway_settings(specs, run_worker=False), specs=specs))
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    )


def _pages() -> list[str]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [line for page in pages for line in page.read_text(encoding="utf-8").splitlines()]


def test_every_route_of_the_openapi_document_is_documented() -> None:
    lines = _pages()
    missing = []
    for method, path in _routes():
        if (method, path) in ROUTES_EXEMPT:
            continue
        # A path parameter may be written as its name or as an example value.
        segments = [r"[^/\s`)]+" if re.fullmatch(r"\{[^}]+\}", s) else re.escape(s) for s in path.split("/")]
        shape = re.compile(rf"\b{method}\s+`?" + "/".join(segments) + r"(?![\w/-])")
        if not any(shape.search(line) for line in lines):
            missing.append(f"{method} {path}")
    assert not missing, "routes not in README.md or docs/*.md (as 'METHOD /path'):\n" + "\n".join(missing)


def test_the_exemptions_name_routes_that_exist() -> None:
    assert set(ROUTES_EXEMPT) <= set(_routes())


def _store_families() -> set[str]:
    """The first part of every key the Redis stores build (`self._k("claim", …)` → `claim`)."""
    families = set()
    for source, prefix in (("redis.py", ""), ("webhooks.py", "wh:")):
        text = (ROOT / "gateway" / "stores" / source).read_text(encoding="utf-8")
        families |= {prefix + name for name in re.findall(r"""self\._k\(\s*["']([a-z_]+)["']""", text)}
    return families


def test_every_store_key_family_is_in_the_storage_table_of_operations_md() -> None:
    families = _store_families()
    assert {"claim", "idem", "outbox", "wh:att"} <= families, "the key scan no longer finds the stores' keys"
    sections = _sections((ROOT / "docs" / "operations.md").read_text(encoding="utf-8"))
    table = sections.get("What the gateway stores", "")
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    named = set()
    for cell in first_cells:
        for token in re.findall(r"`([^`]+)`", cell):
            match = re.match(r"[a-z_]+(?::[a-z_]+)*", token)
            parts = match.group(0).split(":") if match else []
            named |= {":".join(parts[: n + 1]) for n in range(len(parts))}
    missing = sorted(families - named)
    assert not missing, f"store key families without a row in docs/operations.md: {missing}"


def test_every_event_type_is_in_the_webhooks_page() -> None:
    page = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    missing = [kind for kind in EVENT_TYPES if f"`{kind}`" not in page]
    assert not missing, f"event types internal services are not told about in docs/webhooks.md: {missing}"
