"""`make run`'s receiver verifies what the gateway signs, and refuses what it did not."""

from __future__ import annotations

import datetime as dt

import httpx

from adapters.sandbox_kit import serve_in_thread
from gateway.demo import DemoReceiver, demo_document
from gateway.webhooks.signing import new_secret, signed_headers


async def test_the_demo_receiver_verifies_signed_deliveries_and_lists_them() -> None:
    lines: list[str] = []
    receiver = DemoReceiver(echo=lines.append)
    receiver.secret = new_secret()
    server = serve_in_thread(receiver)  # type: ignore[arg-type]
    try:
        body = b'{"id":"evt_1","type":"operation.succeeded","data":{}}'
        signed = signed_headers([receiver.secret], "evt_1", dt.datetime.now(dt.UTC), body)
        forged = signed_headers([new_secret()], "evt_2", dt.datetime.now(dt.UTC), body)
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.post("/hooks", content=body, headers=signed)).status_code == 204
            assert (await http.post("/hooks", content=body, headers=forged)).status_code == 400
            shown = (await http.get("/")).json()
        assert [(d["webhook_id"], d["verified"]) for d in shown] == [("evt_2", False), ("evt_1", True)]
        assert lines == [
            "webhook evt_1 operation.succeeded signature verified",
            "webhook evt_2 operation.succeeded signature NOT verified",
        ]
    finally:
        server.stop()


def test_the_demo_allows_its_loopback_receiver_over_http() -> None:
    from adapters.registry import discover

    specs = discover()
    document, _ = demo_document(specs, {name: "http://127.0.0.1:9" for name, s in specs.items() if s.sandbox})
    assert document["webhooks"]["allow_http_hosts"] == ["127.0.0.1"]
