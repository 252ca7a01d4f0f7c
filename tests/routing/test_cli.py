"""The ops CLI round trip against a running gateway (real HTTP): tenants, keys, audit."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from tests.routing._support import ADMIN_KEY, TENANT_KEY, Gateway, bearer, claim, running_gateway


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with running_gateway(worker=False) as running:
        yield running


@pytest.fixture
def cli(gateway: Gateway) -> Any:
    runner = CliRunner()
    env = {"CG_ADMIN_URL": gateway.base_url, "CG_ADMIN_KEY": ADMIN_KEY}

    def run(command: str, ok: bool = True, stdin: str | None = None) -> Result:
        result = runner.invoke(main, shlex.split(command), env=env, input=stdin)
        assert (result.exit_code == 0) == ok, result.output
        return result

    return run


def test_tenants_list_and_show_print_tables_and_json(cli: Any) -> None:
    listed = cli("tenants list").output.splitlines()
    assert listed[0].split() == ["TENANT", "VERSION", "DEFAULT", "RULES"]
    assert listed[1].split() == ["acme", "1", "x", "0"] and listed[2].split() == ["solo", "1", "x", "0"]
    shown = cli("tenants show acme").output
    assert "default agency  x" in shown and "token_env=ACME_X_TOKEN" in shown
    document = json.loads(cli("tenants show acme --json").output)
    assert (document["tenant"], document["version"], document["default_agency"]) == ("acme", 1, "x")


def test_set_default_add_rule_rollback_and_history_round_trip(cli: Any, gateway: Gateway) -> None:
    cli("tenants set-default acme y --reason 'move to y'")
    added = json.loads(
        cli(
            "tenants add-rule acme --agency x --currency SEK --currency CHF --amount-max 50000"
            " --reason 'Nordic small claims stay on x' --json"
        ).output
    )
    assert added["version"] == 3 and added["default_agency"] == "y"
    assert added["rules"] == [{"when": {"currency": ["SEK", "CHF"], "amount_max": 50000}, "agency": "x"}]
    first_rule = cli(
        "tenants add-rule acme --agency y --type loan --position 0 --reason 'loans first' --json"
    ).output
    assert [r["agency"] for r in json.loads(first_rule)["rules"]] == ["y", "x"]
    shown = cli("tenants show acme").output
    assert "currency=SEK,CHF amount<=50000" in shown and "version         4" in shown

    # What the CLI set is what the gateway routes by.
    preview = httpx.post(
        f"{gateway.base_url}/v1/admin/tenants/acme/routing/preview",
        json=claim("P", "SEK", 1000),
        headers=bearer(),
    ).json()
    assert preview == {"agency": "x", "rule": 1, "version": 4}
    by_cli = cli("tenants preview acme", stdin=json.dumps(claim("P", "SEK", 1000))).output
    assert by_cli.strip() == "x (rule 1, routing version 4)"

    rolled = json.loads(cli("tenants rollback acme 1 --reason 'undo all' --json").output)
    assert (rolled["version"], rolled["default_agency"], rolled["rules"]) == (5, "x", [])

    history = cli("tenants history acme").output.splitlines()
    assert [line.split()[0] for line in history] == ["VERSION", "5", "4", "3", "2", "1"]
    assert "undo all (rollback to 1)" in history[1] and "ops" in history[1]
    assert history[-1].split()[2] == "config"
    newest = json.loads(cli("tenants history acme --limit 2 --json").output)
    assert [v["version"] for v in newest] == [5, 4]


def test_a_stale_if_version_or_invalid_rule_fails_with_the_problem(cli: Any) -> None:
    cli("tenants set-default acme y --reason move")
    stale = cli("tenants set-default acme x --reason back --if-version 1", ok=False)
    assert "HTTP 412 precondition_failed" in stale.output
    invalid = cli("tenants add-rule acme --agency y --currency JPY --reason r", ok=False)
    assert (
        "HTTP 422 validation_failed" in invalid.output
        and "/rules/0/agency: y does not take JPY" in invalid.output
    )
    assert json.loads(cli("tenants show acme --json").output)["version"] == 2


def test_commands_need_an_admin_key(cli: Any, gateway: Gateway) -> None:
    runner = CliRunner()
    refused = runner.invoke(
        main, ["tenants", "list"], env={"CG_ADMIN_URL": gateway.base_url, "CG_ADMIN_KEY": TENANT_KEY}
    )
    assert refused.exit_code == 1 and "HTTP 403 forbidden" in refused.output
    missing = runner.invoke(
        main, ["tenants", "list"], env={"CG_ADMIN_URL": gateway.base_url, "CG_ADMIN_KEY": ""}
    )
    assert missing.exit_code == 2 and "admin-key" in missing.output


def test_keys_create_list_revoke_through_the_api_and_offline_create_still_works(
    cli: Any, gateway: Gateway
) -> None:
    created = json.loads(
        cli("keys create --api --name billing --tenant acme --scope claims:read --json").output
    )
    claims = f"{gateway.base_url}/v1/tenants/acme/claims"
    assert httpx.get(claims, headers=bearer(created["key"])).status_code == 200
    listed = cli("keys list").output
    assert created["id"] in listed and "billing" in listed and created["key"] not in listed
    assert cli(f"keys revoke {created['id']}").output.strip() == f"revoked {created['id']}"
    assert httpx.get(claims, headers=bearer(created["key"])).status_code == 401

    offline = cli("keys create --name 'new app' --tenant acme").output
    assert (
        offline.startswith("key (shown once): cgk_")
        and "[[api_keys]]" in offline
        and "key_sha256 = " in offline
    )
    assert "new app" not in cli("keys list").output  # offline means offline


def test_audit_lists_changes_and_refusals(cli: Any, gateway: Gateway) -> None:
    cli("tenants set-default acme y --reason 'move to y'")
    httpx.get(f"{gateway.base_url}/v1/admin/tenants", headers=bearer(TENANT_KEY))
    lines = cli("audit").output.splitlines()
    assert lines[0].split() == ["AT", "ACTION", "ACTOR", "TENANT", "DETAIL"]
    assert any("routing.changed" in line and "move to y" in line for line in lines)
    assert any("auth.refused" in line and "403 GET /v1/admin/tenants" in line for line in lines)
