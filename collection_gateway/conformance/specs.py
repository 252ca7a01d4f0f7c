"""Which adapter the suite runs against: the `conformance_spec` fixture's value, resolved."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

from adapters.base import AdapterSpec

__all__ = ["GROUP", "registered_params", "resolve_spec"]

GROUP = "collection_gateway.adapters"


def resolve_spec(value: Any) -> AdapterSpec:
    """An `AdapterSpec` with a sandbox, from an `AdapterSpec` or the name of its entry point.

    Naming the entry point (`"acme_collect"`) also proves the package registers the way the
    gateway discovers it; the entry point's name must be the adapter's `name`.
    """
    if isinstance(value, str):
        matches = [entry for entry in entry_points(group=GROUP) if entry.name == value]
        if not matches:
            pytest.fail(
                f"no adapter {value!r} is registered under the entry-point group {GROUP!r}: is the "
                f"package installed (pip install -e .) and does its pyproject.toml declare "
                f'[project.entry-points."{GROUP}"] {value} = "<package>:SPEC"?',
                pytrace=False,
            )
        loaded = matches[0].load()
        if isinstance(loaded, AdapterSpec) and loaded.name != value:
            pytest.fail(
                f"entry point {value!r} names an adapter called {loaded.name!r}: the gateway "
                "finds adapters by their name, so the two must be the same",
                pytrace=False,
            )
        value = loaded
    if not isinstance(value, AdapterSpec):
        pytest.fail(
            f"conformance_spec must be an AdapterSpec or an entry-point name, not {value!r}", pytrace=False
        )
    if value.sandbox is None:
        pytest.fail(
            f"adapter {value.name!r} has no sandbox (AdapterSpec.sandbox) to run against", pytrace=False
        )
    return value


def registered_params() -> list[Any]:
    """One `pytest.param` per registered adapter, for a `conformance_spec` fixture that runs the
    suite over every installed adapter.

    One that does not load, is not an AdapterSpec, or has no sandbox is a skipped case with the
    reason, so that a missing adapter is visible in every run instead of silently absent.
    """
    cases: list[Any] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            spec = entry.load()
        except Exception as exc:  # a broken adapter must not hide the others
            reason = f"adapter {entry.name!r} ({entry.value}) does not load: {type(exc).__name__}: {exc}"
            cases.append(pytest.param(None, id=entry.name, marks=pytest.mark.skip(reason=reason)))
            continue
        if not isinstance(spec, AdapterSpec):
            reason = f"{entry.value} is not an AdapterSpec"
            cases.append(pytest.param(None, id=entry.name, marks=pytest.mark.skip(reason=reason)))
        elif spec.sandbox is None:
            reason = f"adapter {entry.name!r} has no sandbox to run against"
            cases.append(pytest.param(None, id=entry.name, marks=pytest.mark.skip(reason=reason)))
        else:
            cases.append(pytest.param(spec, id=entry.name))
    return cases
