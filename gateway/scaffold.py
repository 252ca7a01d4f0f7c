"""`collection-gateway new-adapter NAME`: a working adapter skeleton to fill in.

The skeleton is a complete adapter for a placeholder agency — wire types, pure mapping, client,
adapter, an in-memory sandbox, tests — that passes the conformance suite as generated; the
`TODO(<name>)` comments mark where the real agency's specifics go (docs/adding-an-adapter.md).

Two layouts:
- `--package`: a standalone installable package in `--out` (default `./<name>`): its own
  `pyproject.toml` with the entry point, `src/<name>/`, `tests/` (the conformance kit runs
  through `-p collection_gateway.conformance`). Nothing in the gateway changes.
- in the gateway's repository (default): `adapters/<name>/` and `tests/adapters/<name>/` under
  `--out` (default `.`), and the entry-point line to add to the gateway's `pyproject.toml` is
  printed; `tests/conformance` runs the suite against every registered adapter.

Templates live in `gateway/_adapter_template/` (`*.tmpl`, with `{{placeholders}}`).
"""

from __future__ import annotations

import keyword
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path

import click
import msgspec

__all__ = ["GROUP", "Scaffold", "ScaffoldError", "new_adapter", "new_adapter_command", "render"]

GROUP = "collection_gateway.adapters"
TEMPLATES = Path(__file__).parent / "_adapter_template"

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
#: Names an agency package cannot take: ours, or what it would shadow.
_RESERVED = frozenset(
    {
        "adapters",
        "base",
        "canonical",
        "collection_gateway",
        "gateway",
        "registry",
        "sandbox_kit",
        "sdk",
        "tests",
    }
)
_PACKAGE_FILES = ("__init__.py", "wire.py", "mapping.py", "client.py", "adapter.py", "sandbox.py")


class ScaffoldError(ValueError):
    """The skeleton cannot be written as asked; nothing was written."""


class Scaffold(msgspec.Struct, frozen=True, kw_only=True):
    """What `new_adapter` wrote, and what is left to do."""

    name: str
    root: Path
    files: tuple[Path, ...]
    #: The line for `[project.entry-points."collection_gateway.adapters"]`.
    entry_point: str
    package: bool


def render(template: str, values: Mapping[str, str]) -> str:
    """`{{key}}` → `values[key]`; a placeholder without a value is an error, never left behind."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ScaffoldError(f"template placeholder {{{{{key}}}}} has no value")
        return values[key]

    return _PLACEHOLDER.sub(value, template)


def _check_name(name: str) -> None:
    if not _NAME.match(name) or len(name) > 40:
        raise ScaffoldError(
            f"{name!r} is not an agency name: lower-case letters, digits and single underscores, "
            "starting with a letter (it becomes the Python package and the entry-point name)"
        )
    if keyword.iskeyword(name) or name in _RESERVED:
        raise ScaffoldError(f"{name!r} is reserved")
    if any(entry.name == name for entry in entry_points(group=GROUP)):
        raise ScaffoldError(f"an adapter named {name!r} is already installed")


def new_adapter(name: str, out: Path | None = None, *, package: bool = False) -> Scaffold:
    """Write the skeleton for agency `name`; refuses to overwrite any file."""
    _check_name(name)
    words = name.split("_")
    if package:
        root = out if out is not None else Path(name)
        module = name
        package_dir = root / "src" / name
        tests_dir = root / "tests"
    else:
        root = out if out is not None else Path()
        module = f"adapters.{name}"
        package_dir = root / "adapters" / name
        tests_dir = root / "tests" / "adapters" / name
    values = {
        "agency": name,
        "Agency": "".join(word.capitalize() for word in words),
        "AGENCY": name.upper(),
        "title": " ".join(word.capitalize() for word in words),
        "package": module,
        "dist": "collection-gateway-" + name.replace("_", "-"),
    }
    plan: dict[Path, str] = {
        package_dir / file: (TEMPLATES / "package" / f"{file}.tmpl").read_text(encoding="utf-8")
        for file in _PACKAGE_FILES
    }
    plan[tests_dir / "test_mapping.py"] = (TEMPLATES / "tests" / "test_mapping.py.tmpl").read_text(
        encoding="utf-8"
    )
    plan[tests_dir / "test_adapter.py"] = (TEMPLATES / "tests" / "test_adapter.py.tmpl").read_text(
        encoding="utf-8"
    )
    if package:
        plan[root / "pyproject.toml"] = (TEMPLATES / "pyproject.toml.tmpl").read_text(encoding="utf-8")
        plan[root / "README.md"] = (TEMPLATES / "README.md.tmpl").read_text(encoding="utf-8")
        plan[tests_dir / "conftest.py"] = (TEMPLATES / "tests" / "conftest.py.tmpl").read_text(
            encoding="utf-8"
        )
        plan[package_dir / "py.typed"] = ""
    existing = sorted(str(path) for path in plan if path.exists())
    if existing:
        raise ScaffoldError(f"not overwriting {', '.join(existing)}")
    rendered = {path: render(text, values) for path, text in plan.items()}  # every template first
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not package:
        _tidy([path for path in rendered if path.suffix == ".py"], root)
    return Scaffold(
        name=name,
        root=root,
        files=tuple(sorted(rendered)),
        entry_point=f'{name} = "{module}:SPEC"',
        package=package,
    )


def _tidy(files: Sequence[Path], root: Path) -> None:
    """Sort imports the repository's way. The templates' import blocks are laid out for a
    package of its own (the SDK in a section before the package); inside the gateway's
    repository `adapters.<name>` and `adapters.sdk` are one first-party block, ordered by name.
    Done with ruff when it is installed (a dev dependency of the gateway), else left to
    `ruff check --fix`."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        return
    names = [str(path.resolve()) for path in files]
    subprocess.run([ruff, "check", "--quiet", "--select", "I", "--fix", *names], cwd=root, check=False)
    subprocess.run([ruff, "format", "--quiet", *names], cwd=root, check=False)


@click.command("new-adapter")
@click.argument("name")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where to write: the package's root with --package [./NAME], else the gateway repository [.]",
)
@click.option(
    "--package",
    is_flag=True,
    help="a standalone installable package (own pyproject.toml with the entry point)",
)
def new_adapter_command(name: str, out: Path | None, package: bool) -> None:
    """Write a working adapter skeleton for agency NAME (passes the conformance suite as generated)."""
    try:
        result = new_adapter(name, out, package=package)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    for path in result.files:
        click.echo(f"  wrote {path}")
    click.echo("")
    if result.package:
        click.echo(f"The entry point is in {result.root / 'pyproject.toml'}:")
        click.echo(f'  [project.entry-points."{GROUP}"]\n  {result.entry_point}')
        click.echo("\nNext:")
        click.echo(f"  pip install -e {result.root}")
        click.echo(f"  pytest -p collection_gateway.conformance {result.root}")
    else:
        click.echo(f'Add this line to pyproject.toml under [project.entry-points."{GROUP}"]:')
        click.echo(f"  {result.entry_point}")
        click.echo("\nNext:")
        click.echo("  pip install -e .        # registers the entry point (make install does it too)")
        click.echo(f"  pytest tests/conformance tests/adapters/{name}")
    click.echo(f"\nThen fill in the TODO({name}) comments, guided by docs/adding-an-adapter.md.")
