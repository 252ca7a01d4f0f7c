"""The gateway's adapter conformance suite runs against this adapter.

The plugin `collection_gateway.conformance` (loaded by `addopts` in pyproject.toml, or with
`pytest -p collection_gateway.conformance`) adds the suite next to this file, because it
defines `conformance_spec`.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def conformance_spec() -> str:
    """The adapter under test, by the name its entry point registers: the suite then also
    proves that an installed package is found the way the gateway finds it."""
    return "verdandi"
