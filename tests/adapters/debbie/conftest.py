"""Debbie's sandbox on a real port (one per module), and an adapter pointed at it over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from adapters._upstream import MemorySharedState, UpstreamClient
from adapters.base import AdapterContext, Credential, credential_from_section
from adapters.debbie import SPEC
from adapters.debbie.adapter import DebbieAdapter
from adapters.debbie.sandbox import create_app
from adapters.sandbox_kit import RunningServer, serve_in_thread
from tests.adapters.debbie._support import SandboxControl


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningServer]:
    server = serve_in_thread(create_app())
    yield server
    server.stop()


@pytest.fixture
async def control(sandbox: RunningServer) -> AsyncIterator[SandboxControl]:
    ctl = SandboxControl(sandbox.base_url)
    await ctl.reset()
    yield ctl
    await ctl.reset()
    await ctl.aclose()


@pytest.fixture
async def upstream(sandbox: RunningServer) -> AsyncIterator[UpstreamClient]:
    # A short timeout so a held answer (commit_then_timeout) is given up on quickly.
    client = UpstreamClient("debbie", sandbox.base_url, timeout=1.0, shared=MemorySharedState())
    yield client
    await client.aclose()


@pytest.fixture
async def adapter(sandbox: RunningServer, upstream: UpstreamClient) -> DebbieAdapter:
    assert SPEC.sandbox is not None
    made = SPEC.create(
        AdapterContext(
            agency="debbie",
            config=SPEC.sandbox.agency_config(sandbox.base_url),
            http=upstream,
            checkpoints=None,
        )
    )
    assert isinstance(made, DebbieAdapter)
    return made


@pytest.fixture
def credential() -> Credential:
    assert SPEC.sandbox is not None
    return credential_from_section("debbie", "demo", SPEC.sandbox.credentials(), SPEC.sandbox.secrets())
