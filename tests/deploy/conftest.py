from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart import VALUES, render


@pytest.fixture(scope="session", params=sorted(VALUES))
def rendering(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    """(name, manifests) for each rendering CI checks: default values and the production example."""
    return request.param, render(VALUES[request.param])


@pytest.fixture(scope="session")
def production() -> list[dict[str, Any]]:
    return render(VALUES["production"])
