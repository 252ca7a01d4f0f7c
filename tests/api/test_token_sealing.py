"""Agency OAuth tokens at rest (issue 14 item 8): sealed in Redis with a key from the environment."""

from __future__ import annotations

import pytest
import redis

from adapters._upstream import RedisSharedState
from gateway.runtime import Runtime
from gateway.sealed import SealedSharedState
from gateway.settings import ConfigError
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import gateway_settings

TOKEN = b'{"access_token":"eyJ-very-secret-token","refresh_at":123.0}'


async def test_cached_tokens_are_ciphertext_in_redis_and_open_only_under_their_key(redis_prefix: str) -> None:
    store = RedisStore(REDIS_URL, redis_prefix)
    try:
        sealed = SealedSharedState(store.shared, "an operator's key material")
        await sealed.cache_set("token:intrum:acme", TOKEN, 60)
        assert await sealed.cache_get("token:intrum:acme") == TOKEN
        raw = redis.Redis.from_url(REDIS_URL)
        try:
            values = [raw.get(k) or b"" for k in raw.scan_iter(match=f"{redis_prefix}:*")]
        finally:
            raw.close()
        assert values and not any(b"very-secret" in v for v in values)
        clear = store.shared
        assert isinstance(clear, RedisSharedState)
        await clear.cache_set("token:other", await clear.cache_get("token:intrum:acme") or b"", 60)
        assert await sealed.cache_get("token:other") is None  # bound to its key
        await clear.cache_set("token:clear", TOKEN, 60)
        assert await sealed.cache_get("token:clear") is None  # written in clear: fetched anew
        other_key = SealedSharedState(store.shared, "another key")
        assert await other_key.cache_get("token:intrum:acme") is None
    finally:
        await store.aclose()


def test_the_gateway_seals_tokens_with_the_key_the_environment_names() -> None:
    from gateway.settings import settings_from_mapping

    specs = {"fake": fake_spec(FakeAgency())}
    document = {
        "agencies": {"fake": {"base_url": "http://fake.invalid"}},
        "tenants": {"acme": {"default_agency": "fake", "credentials": {"fake": {"account_id": "1"}}}},
        "token_key_env": "CG_TEST_TOKEN_KEY",
    }
    with pytest.raises(ConfigError, match="token_key_env"):
        settings_from_mapping(document, {}, specs)
    settings = settings_from_mapping(document, {"CG_TEST_TOKEN_KEY": "k"}, specs)
    assert isinstance(Runtime(settings, specs=specs)._token_state(), SealedSharedState)
    assert not isinstance(Runtime(gateway_settings(specs), specs=specs)._token_state(), SealedSharedState)
