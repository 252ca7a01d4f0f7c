from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.console._support import Console
from tests.routing._support import Gateway, running_gateway


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with running_gateway() as running:
        yield running


@pytest.fixture
def console(gateway: Gateway) -> Iterator[Console]:
    with Console(gateway.base_url) as client:
        yield client
