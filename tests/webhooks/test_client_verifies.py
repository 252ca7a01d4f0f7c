"""The project's own Python client (clients/python) verifies what the gateway sends, rotations included."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.receiver import Receiver
from tests.webhooks.conftest import Harness

CLIENT_SRC = Path(__file__).resolve().parents[2] / "clients" / "python" / "src"
if str(CLIENT_SRC) not in sys.path:
    sys.path.insert(0, str(CLIENT_SRC))

from collection_gateway_client import verify_webhook  # noqa: E402


async def test_the_python_client_verifies_deliveries_with_either_secret_during_a_rotation(
    harness: Harness, receiver: Receiver
) -> None:
    endpoint = await harness.subscribe(receiver.url)
    harness.run(harness.dispatcher())
    before = await harness.emit(n=1)
    (first,) = await receiver.wait_for(1)
    assert verify_webhook(first.headers, first.body, endpoint["secret"]).id == before.id
    rotated = await harness.service.rotate("acme", endpoint["id"], None)
    assert isinstance(rotated.secret, str)
    during = await harness.emit(n=2)
    second = (await receiver.wait_for(2))[1]
    for secret in (endpoint["secret"], rotated.secret):
        assert verify_webhook(second.headers, second.body, secret).id == during.id
