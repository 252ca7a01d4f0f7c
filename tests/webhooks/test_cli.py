"""`collection-gateway webhooks …` against a running gateway: add, list, deliveries, redeliver, rotate, remove."""

from __future__ import annotations

import asyncio
import json
import shlex

from click.testing import CliRunner, Result

from gateway.cli import main
from tests.support.gateway import ADMIN_KEY, TENANT_KEY
from tests.support.receiver import Receiver
from tests.webhooks.conftest import Harness


async def run(harness: Harness, command: str, ok: bool = True, key: str = ADMIN_KEY) -> Result:
    env = {"CG_ADMIN_URL": str(harness.http.base_url), "CG_ADMIN_KEY": key}
    result = await asyncio.to_thread(CliRunner().invoke, main, shlex.split(command), env=env)
    assert (result.exit_code == 0) == ok, result.output
    return result


async def test_the_cli_round_trip(harness: Harness, receiver: Receiver) -> None:
    added = (
        await run(
            harness,
            f"webhooks add acme {receiver.url} --event-type operation.succeeded --description billing",
        )
    ).output
    secret = next(line.rsplit(" ", 1)[1] for line in added.splitlines() if line.startswith("signing secret"))
    endpoint_id = added.splitlines()[0].split()[1]
    listed = (await run(harness, "webhooks list acme")).output.splitlines()
    assert listed[0].split() == ["ID", "STATUS", "EVENTS", "URL", "DESCRIPTION"]
    assert listed[1].split() == [endpoint_id, "enabled", "operation.succeeded", receiver.url, "billing"]
    assert secret not in "\n".join(listed)

    harness.run(harness.dispatcher())
    event = await harness.emit()
    (got,) = await receiver.wait_for(1)
    assert got.verifies_with(secret)
    await harness.attempts(endpoint_id, 1)
    attempts = json.loads((await run(harness, f"webhooks deliveries acme {endpoint_id} --json")).output)
    assert [(a["event_id"], a["status_code"]) for a in attempts] == [(event.id, 200)]
    table = (await run(harness, f"webhooks deliveries acme {endpoint_id}")).output
    assert event.id in table and "200" in table

    await run(harness, f"webhooks redeliver acme {endpoint_id} {attempts[0]['id']}")
    assert (await receiver.wait_for(2))[1].webhook_id == event.id

    rotated = (await run(harness, f"webhooks rotate acme {endpoint_id}")).output
    assert "previous secret keeps signing" in rotated
    await run(harness, f"webhooks remove acme {endpoint_id}")
    assert len((await run(harness, "webhooks list acme")).output.splitlines()) == 1

    refused = await run(harness, "webhooks list acme", ok=False, key=TENANT_KEY)
    assert "HTTP 403 forbidden" in refused.output
