"""What an adapter package may import from this distribution: `adapters.sdk` and itself, nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["FIRST_PARTY", "forbidden_imports"]

#: Top-level packages of this repository (an adapter reaching into any of them but the SDK is private use).
FIRST_PARTY = frozenset({"adapters", "bench", "canonical", "collection_gateway", "gateway", "tests"})


def _allowed(module: str, own: str) -> bool:
    top = module.split(".")[0]
    if module == own or module.startswith(own + "."):
        return True
    if top not in FIRST_PARTY:
        return True  # the standard library and third-party packages (msgspec, litestar, ...)
    return module == "adapters.sdk"


def forbidden_imports(package: Path, own: str) -> list[str]:
    """`file:line module` for every import in `package` (a directory, at any depth, including
    imports inside functions) that is neither the SDK, `own` (the package's import name), nor
    outside this distribution."""
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: stays inside the package by construction
                    continue
                assert node.module is not None
                modules = [node.module]
                if node.module == "adapters":  # `from adapters import base` is adapters.base
                    modules = [f"adapters.{alias.name}" for alias in node.names]
            found += [
                f"{path.relative_to(package.parent)}:{node.lineno} {module}"
                for module in modules
                if not _allowed(module, own)
            ]
    return found
