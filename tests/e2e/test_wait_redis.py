"""`Prefer: wait` on the Redis store: a stored write is never answered as "nothing was stored".

A 503 tells a client that nothing was stored, and a client that believes it retries with a new
key: a payment booked twice. So every way a wait can end after the operation was stored ends in
the 202 (or the final answer), and the key replays the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from gateway.stores import StoreUnavailable
from gateway.stores.records import OperationRecord
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.contract.test_store_contract import claim_record, operation_record
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import auth, claim_body, gateway_settings
from tests.support.redis_server import OwnRedis

pytestmark = pytest.mark.redis


def _store(url: str, prefix: str, **options: object) -> RedisStore:
    return RedisStore(url, prefix, client=aioredis.Redis.from_url(url, **options))  # type: ignore[arg-type]


def _pooled_store(url: str, prefix: str, connections: int) -> RedisStore:
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=connections, timeout=1)
    return RedisStore(url, prefix, client=aioredis.Redis(connection_pool=pool))


def _gateway(store: RedisStore, url: str, prefix: str):  # type: ignore[no-untyped-def]
    specs = {"fake": fake_spec(FakeAgency())}
    settings = gateway_settings(specs, store_url=url, store_prefix=prefix, run_worker=False)
    return serve_in_thread(create_app(settings, store=store, specs=specs))


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        server.close()


async def test_a_wait_longer_than_the_store_socket_timeout_answers_the_stored_202(redis_prefix: str) -> None:
    # The production client times a Redis call out after 5 s; here after 0.3 s, with a 1 s wait.
    server = _gateway(_store(REDIS_URL, redis_prefix, socket_timeout=0.3), REDIS_URL, redis_prefix)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            headers = {**auth(idempotency_key="wait-1"), "Prefer": "wait=1"}
            first = await http.post("/v1/tenants/acme/claims", json=claim_body(), headers=headers)
            assert first.status_code == 202, first.text
            assert first.json()["status"] == "queued"
            again = await http.post("/v1/tenants/acme/claims", json=claim_body(), headers=headers)
            assert again.status_code == 202
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json()["id"] == first.json()["id"]
            listed = await http.get("/v1/tenants/acme/operations", headers=auth())
            assert [op["id"] for op in listed.json()["data"]] == [first.json()["id"]]
    finally:
        server.stop()


async def test_a_store_outage_during_the_wait_answers_the_stored_202(own_redis: OwnRedis) -> None:
    server = _gateway(_store(own_redis.url, "cg", socket_timeout=1), own_redis.url, "cg")
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            headers = {**auth(idempotency_key="wait-2"), "Prefer": "wait=3"}
            pending = asyncio.create_task(
                http.post("/v1/tenants/acme/claims", json=claim_body(), headers=headers)
            )
            probe = aioredis.Redis.from_url(own_redis.url)
            try:  # the operation is stored: the request is now waiting for its outcome
                for _ in range(500):
                    if await probe.keys("cg:op:*"):
                        break
                    await asyncio.sleep(0.01)
                else:
                    pytest.fail("the operation was never stored")
            finally:
                await probe.aclose()
            own_redis.kill()
            answer = await pending
            assert answer.status_code == 202, answer.text
            operation_id = answer.json()["id"]

            own_redis.start()  # AOF brings the stored operation back: it will be delivered
            check = aioredis.Redis.from_url(own_redis.url)
            try:
                raw = await check.get(f"cg:op:{operation_id}")
            finally:
                await check.aclose()
            assert raw is not None  # stored before the 202 went out, and still there
            assert msgspec.json.decode(raw, type=OperationRecord).status == "queued"
    finally:
        server.stop()


async def test_waiters_share_one_subscription_instead_of_a_connection_each(redis_prefix: str) -> None:
    # 40 requests waiting at once on a pool of 4 connections: none may fail for want of one.
    store = _pooled_store(REDIS_URL, redis_prefix, connections=4)
    try:
        operations = []
        for i in range(40):
            claim = claim_record(reference=f"ORD-{i}")
            operation = operation_record(claim)
            await store.accept(operation, claim, None)
            operations.append(operation)

        async def finish_all() -> None:
            await asyncio.sleep(0)  # let the waiters start waiting
            for operation in operations:
                operation.status = "succeeded"
                await store.save_operation(operation)

        finisher = asyncio.create_task(finish_all())
        finals = await asyncio.gather(*(store.wait_final(op.id, 5) for op in operations))
        await finisher
        assert [final.status for final in finals if final is not None] == ["succeeded"] * 40
    finally:
        await store.aclose()
        await store.redis.connection_pool.disconnect()  # a pool passed in is not closed with its client


class _AnswerLostStore(RedisStore):
    """Redis runs the accept step and the connection drops before its answer arrives."""

    async def accept(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        await super().accept(*args, **kwargs)
        raise StoreUnavailable("the connection dropped before Redis answered")


async def test_an_accept_whose_answer_was_lost_is_looked_up_and_answered_202(redis_prefix: str) -> None:
    store = _AnswerLostStore(REDIS_URL, redis_prefix)
    server = _gateway(store, REDIS_URL, redis_prefix)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            headers = auth(idempotency_key="lost-1")
            first = await http.post("/v1/tenants/acme/claims", json=claim_body(), headers=headers)
            assert first.status_code == 202, first.text
            again = await http.post("/v1/tenants/acme/claims", json=claim_body(), headers=headers)
            assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
            assert again.json()["id"] == first.json()["id"]
    finally:
        server.stop()
