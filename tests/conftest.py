"""Shared fixtures: the real Redis at 127.0.0.1:6379, isolated per test by key prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, settings

# These machines are shared and noisy: no per-example deadline. Under CI the examples are
# derandomized, so a landing is decided by the code, not by the draw, and bounded to 50 per
# property so the whole suite keeps its time budget (local runs keep exploring, 100 each).
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", parent=settings.get_profile("dev"), max_examples=50, derandomize=True, print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

REDIS_URL = os.environ.get("CG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the real Redis; every key under it is deleted afterwards.

    Redis tests never skip under CI=true: an unreachable server there is a failure.
    (Synchronous on purpose: async fixtures can request it through getfixturevalue.)
    """
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is not reachable under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    prefix = f"cgtest:{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
