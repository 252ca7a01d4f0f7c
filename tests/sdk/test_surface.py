"""The SDK is one complete, sorted surface, and agency packages use nothing else of ours."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import adapters.base
import adapters.sandbox_kit
import adapters.sdk as sdk
import canonical.problems
import collection_gateway.conformance as kit
from tests.sdk._imports import forbidden_imports

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = sorted(
    path.name
    for path in (ROOT / "adapters").iterdir()
    if (path / "__init__.py").exists() and not path.name.startswith("_")
)
#: adapters.base names the gateway uses and an adapter has no business with.
GATEWAY_SIDE = {"SecretMissing", "credential_from_section", "required_capability"}


def _isort_key(name: str) -> tuple[int, str]:
    # ruff RUF022: CONSTANTS, then Classes, then functions, each alphabetically.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


@pytest.mark.parametrize("module", [sdk, kit], ids=["adapters.sdk", "collection_gateway.conformance"])
def test_the_public_surface_is_sorted_without_duplicates_and_importable(module: object) -> None:
    names: list[str] = module.__all__  # type: ignore[attr-defined]
    assert names == sorted(set(names), key=_isort_key)
    assert [name for name in names if not hasattr(module, name)] == []


def test_everything_the_sdk_defines_is_exported() -> None:
    defined = {
        name
        for name, value in vars(sdk).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == sdk.__name__
    }
    assert defined - set(sdk.__all__) == set()
    assert {"offset_page", "page_window", "parse_offset", "cursor_position"} <= defined


def test_the_adapter_contract_is_exported_except_what_only_the_gateway_uses() -> None:
    assert set(adapters.base.__all__) - GATEWAY_SIDE - set(sdk.__all__) == set()


def test_the_sandbox_toolkit_is_exported_whole() -> None:
    assert set(adapters.sandbox_kit.__all__) - set(sdk.__all__) == set()


def test_every_agency_error_is_exported() -> None:
    agency_errors = {
        name
        for name, value in vars(canonical.problems).items()
        if inspect.isclass(value) and issubclass(value, canonical.problems.AgencyError)
    }
    assert agency_errors - set(sdk.__all__) == set()
    assert {"BadRequest", "NotFound", "ValidationFailed", "UnsupportedByAgency"} <= set(sdk.__all__)


def test_importing_the_sdk_loads_nothing_of_the_gateway_service() -> None:
    probe = "import sys, adapters.sdk; print(sorted(m for m in sys.modules if m.split('.')[0] == 'gateway'))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_three_built_in_agencies_are_checked() -> None:
    assert {"intrum", "debbie", "riverty"} <= set(BUILT_IN)


@pytest.mark.parametrize("agency", BUILT_IN)
def test_a_built_in_adapter_imports_only_the_sdk_and_itself(agency: str) -> None:
    assert forbidden_imports(ROOT / "adapters" / agency, f"adapters.{agency}") == []


def test_the_import_rule_catches_every_way_around_the_sdk(tmp_path: Path) -> None:
    package = tmp_path / "acme"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from adapters.sdk import Money\n"
        "from acme.wire import AcmeCase\n"
        "from .mapping import to_wire\n"
        "import msgspec\n"
        "from canonical import Money as M\n"
        "from canonical.money import from_major\n"
        "from adapters.base import Credential\n"
        "from adapters import base\n"
        "import adapters._upstream\n"
        "from adapters.intrum.mapping import to_wire_case\n"
        "def late():\n"
        "    from gateway.settings import Settings\n"
    )
    found = [entry.split(" ", 1)[1] for entry in forbidden_imports(package, "acme")]
    assert found == [
        "canonical",
        "canonical.money",
        "adapters.base",
        "adapters.base",
        "adapters._upstream",
        "adapters.intrum.mapping",
        "gateway.settings",
    ]
