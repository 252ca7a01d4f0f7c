"""Riverty's sandbox on a real port (one per module), and adapters pointed at it over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from adapters._upstream import MemorySharedState, UpstreamClient
from adapters.base import Credential, credential_from_section
from adapters.riverty import SPEC
from adapters.riverty.adapter import RivertyAdapter
from adapters.riverty.sandbox import build_sandbox
from tests.adapters.riverty._support import Riverty, make_adapter


@pytest.fixture(scope="module")
def riverty() -> Iterator[Riverty]:
    running = Riverty.start(build_sandbox())
    yield running
    running.stop()


@pytest.fixture
async def upstream(riverty: Riverty) -> AsyncIterator[UpstreamClient]:
    # A short timeout so a held answer (commit_then_timeout) is given up on quickly.
    client = UpstreamClient("riverty", riverty.base_url, timeout=1.0, shared=MemorySharedState())
    yield client
    await client.aclose()


@pytest.fixture
def adapter(riverty: Riverty, upstream: UpstreamClient) -> RivertyAdapter:
    riverty.sandbox.kit.faults = type(riverty.sandbox.kit.faults)()  # no fault left by another test
    return make_adapter(riverty.base_url, upstream)


@pytest.fixture
def credential() -> Credential:
    assert SPEC.sandbox is not None
    return credential_from_section("riverty", "demo", SPEC.sandbox.credentials(), SPEC.sandbox.secrets())
