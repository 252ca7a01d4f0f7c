"""One "gateway replica" for the shared rate-limit acceptance test, run as its own process.

    python -m tests.adapters.upstream._burst_client BASE_URL REDIS_URL PREFIX COUNT PERIOD SECONDS TASKS

Builds its own UpstreamClient (its own connection pool) on RedisSharedState, prints `ready`,
waits for a line on stdin, then reads as fast as TASKS concurrent callers can for SECONDS and
prints a JSON summary of what its callers saw.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time

import redis.asyncio as aioredis

from adapters._upstream import BearerAuth, RedisSharedState, UpstreamClient
from canonical.problems import AgencyError
from tests.adapters.upstream._agency import AGENCY, CREDENTIAL


async def main(
    base_url: str, redis_url: str, prefix: str, count: int, period: float, seconds: float, tasks: int
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    await redis.ping()
    client = UpstreamClient(
        AGENCY, base_url, shared=RedisSharedState(redis, prefix), rate_limits=[(count, period)]
    )
    auth = BearerAuth(token="static-token")
    seen: collections.Counter[str] = collections.Counter()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    stop = time.monotonic() + seconds

    async def caller() -> None:
        while time.monotonic() < stop:
            try:
                await client.request("GET", "/items/burst", credential=CREDENTIAL, auth=auth)
                seen["ok"] += 1
            except AgencyError as error:  # AgencyRateLimited: no slot within the read budget
                seen[error.code] += 1

    try:
        await asyncio.gather(*(caller() for _ in range(tasks)))
    finally:
        await client.aclose()
        await redis.aclose()
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    url, redis_url, prefix, count, period, seconds, tasks = sys.argv[1:8]
    asyncio.run(main(url, redis_url, prefix, int(count), float(period), float(seconds), int(tasks)))
