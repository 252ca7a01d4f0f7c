from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.stores import MemoryStore, Store
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The same contract, on the embedded store and on the real Redis (isolated by prefix)."""
    if request.param == "memory":
        yield MemoryStore()
        return
    prefix = request.getfixturevalue("redis_prefix")
    redis_store = RedisStore(REDIS_URL, prefix)
    try:
        yield redis_store
    finally:
        await redis_store.aclose()
