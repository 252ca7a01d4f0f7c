"""Every registered adapter, each against its own sandbox over real HTTP.

Adapters join by registering under the entry-point group `collection_gateway.adapters`. One that
does not load, is not an AdapterSpec, or has no sandbox is listed as a skipped case with the
reason, so that a missing adapter is visible in every run instead of silently absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from typing import Any

import pytest

from adapters.base import AdapterSpec
from tests.conformance.harness import Agency, running_agency

GROUP = "collection_gateway.adapters"


def _registered() -> list[Any]:
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


REGISTERED = _registered()


@pytest.fixture(params=REGISTERED)
def spec(request: pytest.FixtureRequest) -> AdapterSpec:
    value: AdapterSpec = request.param
    return value


@pytest.fixture
async def agency(spec: AdapterSpec) -> AsyncIterator[Agency]:
    async with running_agency(spec) as running:
        yield running
