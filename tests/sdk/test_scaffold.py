"""`collection-gateway new-adapter`: a skeleton that installs, registers and passes the kit as generated."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from collection_gateway.conformance import suite
from gateway.cli import main
from gateway.scaffold import TEMPLATES, ScaffoldError, new_adapter, render
from tests.sdk._imports import forbidden_imports
from tests.sdk.conftest import ROOT, Overlay

SUITE_TESTS = sorted(name for name in vars(suite) if name.startswith("test_"))
BIN = Path(sys.executable).parent


def junit(report: Path) -> dict[str, str]:
    """test name → passed / skipped / failed, from a JUnit XML report."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return outcomes


def suite_outcomes(outcomes: dict[str, str]) -> dict[str, str]:
    return {
        name.rsplit("::", 1)[1].split("[")[0]: outcome
        for name, outcome in outcomes.items()
        if "collection_gateway.conformance.suite" in name
    }


# --- the generator ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Acme", "9lives", "acme-collect", "a__b", "acme_", "_acme", "class", "sdk", "x" * 41]
)
def test_a_name_that_cannot_be_a_package_and_entry_point_is_refused_and_nothing_written(
    name: str, tmp_path: Path
) -> None:
    with pytest.raises(ScaffoldError):
        new_adapter(name, tmp_path / "out", package=True)
    assert not (tmp_path / "out").exists()


def test_the_name_of_an_installed_adapter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="already installed"):
        new_adapter("intrum", tmp_path)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    new_adapter("acme_collect", tmp_path, package=True)
    (tmp_path / "src" / "acme_collect" / "wire.py").write_text("# mine\n")
    with pytest.raises(ScaffoldError, match="not overwriting"):
        new_adapter("acme_collect", tmp_path, package=True)
    assert (tmp_path / "src" / "acme_collect" / "wire.py").read_text() == "# mine\n"


def test_a_placeholder_without_a_value_is_an_error_not_left_in_the_output() -> None:
    with pytest.raises(ScaffoldError, match="Agency"):
        render("class {{Agency}}Case: ...", {"name": "x"})
    for template in TEMPLATES.rglob("*.tmpl"):
        assert "{{" not in render(template.read_text(), dict.fromkeys(_placeholders(), "x")), template


def _placeholders() -> set[str]:
    return {m for t in TEMPLATES.rglob("*.tmpl") for m in re.findall(r"\{\{(\w+)\}\}", t.read_text())}


def test_in_the_repository_the_adapter_goes_under_adapters_and_only_the_entry_point_line_is_left(
    tmp_path: Path,
) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)  # the repository's ruff settings
    result = new_adapter("acme_collect", tmp_path)
    assert result.entry_point == 'acme_collect = "adapters.acme_collect:SPEC"'
    written = {path.relative_to(tmp_path).as_posix() for path in result.files}
    assert written == {
        *(
            f"adapters/acme_collect/{f}.py"
            for f in ("__init__", "wire", "mapping", "client", "adapter", "sandbox")
        ),
        "tests/adapters/acme_collect/test_mapping.py",
        "tests/adapters/acme_collect/test_adapter.py",
    }
    assert forbidden_imports(tmp_path / "adapters" / "acme_collect", "adapters.acme_collect") == []
    for path in result.files:
        compile(path.read_text(), str(path), "exec")
    if (BIN / "ruff").exists():  # imports sorted the repository's way, formatted
        lint = subprocess.run(
            [BIN / "ruff", "check", "--quiet", "."], cwd=tmp_path, capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout


def test_the_command_prints_the_entry_point_line_to_add(tmp_path: Path) -> None:
    answer = CliRunner().invoke(main, ["new-adapter", "acme_collect", "--out", str(tmp_path)])
    assert answer.exit_code == 0, answer.output
    assert 'acme_collect = "adapters.acme_collect:SPEC"' in answer.output
    refused = CliRunner().invoke(main, ["new-adapter", "Not-A-Name", "--out", str(tmp_path)])
    assert refused.exit_code != 0 and "not an agency name" in refused.output


# --- the acceptance: generate, pip install -e, run the kit ----------------------------------------


@pytest.fixture(scope="module")
def acme_package(overlay: Overlay, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`collection-gateway new-adapter acme_collect --package --out X && pip install -e X`."""
    work = tmp_path_factory.mktemp("scaffold")
    package = work / "x"
    made = overlay.run(
        "-m", "gateway.cli", "new-adapter", "acme_collect", "--package", "--out", package, cwd=work
    )
    assert made.returncode == 0, made.stderr
    assert 'acme_collect = "acme_collect:SPEC"' in made.stdout
    overlay.install(package, cwd=work)
    yield package


def test_a_generated_package_passes_the_conformance_kit_as_generated(
    acme_package: Path, overlay: Overlay, tmp_path: Path
) -> None:
    report = tmp_path / "report.xml"
    ran = overlay.run(
        "-m", "pytest", "-p", "collection_gateway.conformance", acme_package,
        "-p", "no:cacheprovider", "-q", f"--junitxml={report}",
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    outcomes = junit(report)
    assert "failed" not in outcomes.values()
    # Every test of the suite ran against the skeleton and passed: it declares every capability.
    # Partial acceptance is no capability but a kind of agency (one claim per invoice, declared
    # by its sandbox's refuse_invoice_path): the skeleton is of the other kind.
    expected = dict.fromkeys(SUITE_TESTS, "passed")
    expected["test_a_claim_refused_for_one_invoice_is_partially_accepted"] = "skipped"
    assert suite_outcomes(outcomes) == expected


def test_a_generated_package_is_clean_typed_and_imports_only_the_sdk(acme_package: Path) -> None:
    assert forbidden_imports(acme_package / "src" / "acme_collect", "acme_collect") == []
    if not (BIN / "ruff").exists() or not (BIN / "mypy").exists():
        pytest.skip("ruff and mypy are dev dependencies")
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        done = subprocess.run(
            [BIN / command[0], *command[1:]], cwd=acme_package, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout
    # MYPYPATH: the gateway has no py.typed marker, so as an installed package mypy would read it as Any.
    typed = subprocess.run(
        [BIN / "mypy", "--strict", "--cache-dir", str(acme_package / ".mypy_cache"), "src", "tests"],
        cwd=acme_package,
        capture_output=True,
        text=True,
        env={"MYPYPATH": str(ROOT), "PATH": str(BIN)},
    )
    assert typed.returncode == 0, typed.stdout


def test_the_installed_package_is_found_by_the_gateway_and_by_nothing_outside_its_environment(
    acme_package: Path, overlay: Overlay, tmp_path: Path
) -> None:
    found = overlay.run(
        "-c", "from adapters.registry import discover; print(sorted(discover()))", cwd=tmp_path
    )
    assert "'acme_collect'" in found.stdout, found.stderr
    mine = {entry.name for entry in importlib.metadata.entry_points(group="collection_gateway.adapters")}
    assert "acme_collect" not in mine  # the project venv itself is untouched
