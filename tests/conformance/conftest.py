"""Every registered adapter through the conformance kit, each against its own sandbox over real HTTP.

The suite is the kit's (`collection_gateway.conformance.suite`): the very tests a third-party
adapter package runs with `pytest -p collection_gateway.conformance`. Here the kit's collection
hook is enabled for this directory (a conftest below the rootdir may not declare
`pytest_plugins`), and `conformance_spec` runs the suite once per registered adapter. An adapter
that does not load, is not an AdapterSpec, or has no sandbox is a skipped case with the reason.
"""

from __future__ import annotations

from typing import Any

import pytest

from collection_gateway.conformance import pytest_collect_file, registered_params

__all__ = ["conformance_spec", "pytest_collect_file"]


@pytest.fixture(params=registered_params())
def conformance_spec(request: pytest.FixtureRequest) -> Any:
    return request.param
