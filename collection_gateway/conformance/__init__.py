"""The adapter conformance kit: the suite every built-in adapter passes, as a pytest plugin.

An adapter package runs it by defining one fixture and loading the plugin:

    # conftest.py (at the package root, or in its tests/ directory)
    import pytest

    @pytest.fixture
    def conformance_spec() -> str:
        return "acme_collect"  # the entry-point name; or the AdapterSpec object itself

    $ pytest -p collection_gateway.conformance

The plugin adds the suite (`collection_gateway.conformance.suite`) next to every conftest.py
that defines `conformance_spec`, once per value of that fixture (parametrise it to check
several adapters; `registered_params()` gives every installed one). The suite's tests appear
as `<dir>/collection_gateway.conformance::test_...`; `-k` selects among them.

Also public, for an adapter's own tests: `running_agency(spec)` (the adapter wired to its
sandbox over real HTTP, as the gateway wires it), `Agency` (deliver with retries, resolve
async outcomes with a deadline, walk pages), `sample_claim(spec)`, and
`collection_gateway.conformance.strategies` (hypothesis strategies for valid canonical claims,
for the mapping's property tests). Needs pytest and pytest-asyncio (the suite marks its own
async tests, so any `asyncio_mode` works); hypothesis only for the strategies.

Not auto-loaded (no `pytest11` entry point): installing the gateway should not change, or slow
down, every pytest run in that environment. Load it with `-p`, with `addopts` in the package's
pytest configuration, or with `pytest_plugins = ["collection_gateway.conformance"]` in a
rootdir conftest.py.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from collection_gateway.conformance.harness import Agency, running_agency, sample_claim
from collection_gateway.conformance.specs import GROUP, registered_params, resolve_spec

__all__ = [
    "FIXTURE",
    "GROUP",
    "SUITE",
    "Agency",
    "ConformanceSuite",
    "pytest_collect_file",
    "registered_params",
    "resolve_spec",
    "running_agency",
    "sample_claim",
]

#: The fixture an adapter package defines: an AdapterSpec, or the name of its entry point.
FIXTURE = "conformance_spec"
#: The module holding the suite's tests.
SUITE = "collection_gateway.conformance.suite"

_COLLECTED: pytest.StashKey[set[Path]] = pytest.StashKey()


class ConformanceSuite(pytest.Module):
    """The suite's module, collected under the directory of the conftest.py that asked for it
    (so that conftest's `conformance_spec`, and everything above it, is visible to the suite)."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(SUITE)


def _conftest(config: pytest.Config, path: Path) -> Any:
    """The conftest module pytest loaded from `path` (registered under its path's name)."""
    module = config.pluginmanager.get_plugin(str(path))
    if module is not None:
        return module
    for plugin in config.pluginmanager.get_plugins():
        origin = getattr(plugin, "__file__", None)
        if origin and Path(origin).resolve() == path.resolve():
            return plugin
    return None


def _defines_spec_fixture(module: Any) -> bool:
    return any(
        name == FIXTURE or getattr(value, "name", None) == FIXTURE
        for name, value in vars(module).items()
        if type(value).__name__ == "FixtureFunctionDefinition" or name == FIXTURE
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Add the suite next to a conftest.py that defines `conformance_spec` (once per conftest)."""
    if file_path.name != "conftest.py":
        return None
    module = _conftest(parent.config, file_path)
    if module is None or not _defines_spec_fixture(module):
        return None
    collected = parent.config.stash.setdefault(_COLLECTED, set())
    if file_path in collected:  # the hook is loaded twice (-p and a conftest that imports it)
        return None
    collected.add(file_path)
    suite: pytest.Collector = ConformanceSuite.from_parent(parent, path=file_path.parent / SUITE)
    return suite
