"""Acceptance (issue 4): replicas sharing one Redis keep one credential under the agency's limit.

Three separate *processes*, each with its own UpstreamClient and connection pool, read as fast
as they can; the agency counts every arrival in a sliding window and answers 429 above the
limit, as Intrum documents. Scaled down from 100/min to 20 per 2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.adapters.upstream._agency import Agency
from tests.adapters.upstream.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[3]
COUNT, PERIOD = 20, 2.0
RUN, MEASURED_FROM, MEASURED = 6.0, 0.5, 5.0  # seconds after "go"


@pytest.mark.redis
def test_three_replicas_sharing_redis_stay_under_the_limit_without_a_429_and_keep_the_agency_busy(
    agency: Agency, base_url: str, redis_prefix: str
) -> None:
    agency.limit = (COUNT, PERIOD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [base_url, REDIS_URL, f"{redis_prefix}:shared", str(COUNT), str(PERIOD), str(RUN), "4"]
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.adapters.upstream._burst_client", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for replica in replicas:
            assert replica.stdout is not None and replica.stdout.readline().strip() == "ready"
        go = time.monotonic()
        for replica in replicas:
            assert replica.stdin is not None
            replica.stdin.write("go\n")
            replica.stdin.flush()
        summaries = [json.loads(replica.communicate(timeout=30)[0]) for replica in replicas]
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.kill()
                replica.wait()

    arrivals = sorted(agency.arrivals)
    busiest = max(sum(1 for t in arrivals if a - PERIOD < t <= a) for a in arrivals)
    start = go + MEASURED_FROM
    served = sum(1 for t in arrivals if start <= t < start + MEASURED)
    allowed = COUNT * MEASURED / PERIOD

    assert agency.answered_429 == 0
    assert busiest <= COUNT
    assert served >= 0.9 * allowed, f"served {served} of {allowed:.0f} allowed ({summaries})"
    assert all(summary.get("ok", 0) > 0 for summary in summaries), summaries  # all three took part
