"""Settings: the config.md file loads with the real adapters; a wrong one stops start-up naming the key."""

from __future__ import annotations

import copy
import hashlib
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.base import AdapterSpec
from adapters.registry import discover
from gateway.settings import ConfigError, Settings, load_settings, settings_from_mapping

# The example of config.md, with its placeholders filled in.
CONFIG = """
store_url = "memory://"
idempotency_ttl_seconds = 86400
run_worker = true

[agencies.intrum]
base_url  = "https://collection.test-api-intrum.ch/restServices/v1"
token_url = "https://kc.intrum.com/auth/realms/debt-collection-api/protocol/openid-connect/token"
poll_interval_seconds = 5
rate_limit_per_minute = 100
rate_limit_per_day = 10000

[agencies.debbie]
base_url = "https://api.debbiecollect.com"

  [agencies.debbie.voucher_types]
  principal   = "0b6f6a3e-0000-4000-8000-000000000001"
  cost        = "0b6f6a3e-0000-4000-8000-000000000002"
  interest    = "0b6f6a3e-0000-4000-8000-000000000003"
  payment     = "0b6f6a3e-0000-4000-8000-000000000004"
  credit_note = "0b6f6a3e-0000-4000-8000-000000000005"

[agencies.riverty]
base_url  = "https://api.riverty.example"
token_url = "https://login.riverty.example/token"
audience  = "riverty-collection"
poll_interval_seconds = 5

[tenants.acme]
default_agency = "intrum"

  [tenants.acme.credentials.intrum]
  client_id = "acme-rw"
  client_secret_env = "ACME_INTRUM_SECRET"

  [tenants.acme.credentials.debbie]
  account_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
  creditor_id = "9d1f3c2a-0d44-4b50-8888-8dd25736052b"
  token_env = "ACME_DEBBIE_TOKEN"

  [tenants.acme.credentials.riverty]
  client_id = "acme"
  client_secret_env = "ACME_RIVERTY_SECRET"
  client_global_id = 4711

  [[tenants.acme.routing.rules]]
  when = { currency = ["SEK", "DKK", "NOK"] }
  agency = "debbie"

[[api_keys]]
tenant = "acme"
scopes = ["claims:read", "claims:write"]
key_sha256 = "A3F5C9E1D2B4A6C8E0F1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F7"

[[api_keys]]
scopes = ["admin"]
key_env = "OPS_API_KEY"
"""

ENV = {
    "ACME_INTRUM_SECRET": "intrum-secret",
    "ACME_DEBBIE_TOKEN": "debbie-token",
    "ACME_RIVERTY_SECRET": "riverty-secret",
    "OPS_API_KEY": "ops-key",
}


@pytest.fixture(scope="module")
def specs() -> dict[str, AdapterSpec]:
    found = discover()
    assert {"intrum", "debbie", "riverty"} <= set(found), found
    return found


def _document() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads(CONFIG))


def _load(
    specs: dict[str, AdapterSpec], change: Callable[[dict[str, Any]], Any] = lambda d: None, **env: str | None
) -> Settings:
    document = _document()
    change(document)
    environment = {k: v for k, v in {**ENV, **env}.items() if v is not None}
    return settings_from_mapping(document, environment, specs)


def _refused(
    specs: dict[str, AdapterSpec], change: Callable[[dict[str, Any]], Any], **env: str | None
) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(specs, change, **env)
    return str(caught.value)


def _rule(document: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = document["tenants"]["acme"]["routing"]["rules"][0]
    return rule


# --- a complete config loads ----------------------------------------------------------------------


def test_the_config_of_config_md_loads_with_the_registered_adapters(
    specs: dict[str, AdapterSpec], tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    settings = load_settings(str(path), ENV, specs)
    assert set(settings.agencies) == {"intrum", "debbie", "riverty"}
    assert settings.agencies["intrum"].rate_limit_per_minute == 100
    assert settings.agencies["debbie"].voucher_types is not None
    assert settings.agencies["debbie"].voucher_types["credit_note"].endswith("05")
    tenant = settings.tenants["acme"]
    assert tenant.default_agency == "intrum"
    assert [(r.when.currency, r.agency) for r in tenant.routing.rules] == [(["SEK", "DKK", "NOK"], "debbie")]
    # Secrets are resolved from the environment under their name without `_env`.
    intrum = settings.credential("acme", "intrum")
    assert intrum is not None and intrum.get("client_secret") == "intrum-secret"
    assert intrum.key == "intrum:acme-rw"
    debbie = settings.credential("acme", "debbie")
    assert debbie is not None and debbie.get("token") == "debbie-token"
    assert debbie.get("creditor_id") == "9d1f3c2a-0d44-4b50-8888-8dd25736052b"
    riverty = settings.credential("acme", "riverty")
    assert riverty is not None and riverty.get("client_global_id") == "4711"
    # Keys are kept as lower-case SHA-256 digests, whether given as a digest or through an env var.
    assert settings.key_hashes == [
        "a3f5c9e1d2b4a6c8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7",
        hashlib.sha256(b"ops-key").hexdigest(),
    ]
    # Secrets never show in a credential's repr (it reaches logs).
    assert "intrum-secret" not in repr(intrum)


def test_the_config_file_can_be_named_by_cg_config(specs: dict[str, AdapterSpec], tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    settings = load_settings(None, {**ENV, "CG_CONFIG": str(path)}, specs)
    assert "acme" in settings.tenants


def test_no_config_at_all_is_an_embedded_gateway_with_defaults(specs: dict[str, AdapterSpec]) -> None:
    settings = load_settings(None, {}, specs)
    assert settings.store_url == "memory://"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.idempotency_ttl_seconds == 86400
    assert settings.tenants == {} and settings.agencies == {}


# --- CG_* environment overrides -------------------------------------------------------------------


def test_cg_variables_override_top_level_scalars_of_the_file(specs: dict[str, AdapterSpec]) -> None:
    settings = _load(
        specs,
        CG_STORE_URL="redis://127.0.0.1:6379/3",
        CG_PORT="9001",
        CG_HOST="0.0.0.0",
        CG_RUN_WORKER="false",
        CG_MAX_BODY_BYTES="2048",
        CG_RETRY_BASE_SECONDS="0.25",
        CG_IDEMPOTENCY_TTL_SECONDS="60",
        CG_WORKERS="4",
    )
    assert settings.store_url == "redis://127.0.0.1:6379/3"
    assert settings.port == 9001
    assert settings.host == "0.0.0.0"
    assert settings.run_worker is False
    assert settings.max_body_bytes == 2048
    assert settings.retry_base_seconds == 0.25
    assert settings.idempotency_ttl_seconds == 60
    assert settings.workers == 4


def test_secrets_named_like_the_keys_they_fill_do_not_stop_the_start(specs: dict[str, AdapterSpec]) -> None:
    # CG_TOKEN_KEY and CG_WEBHOOK_SECRET_KEY are natural names for the keys themselves: the
    # loader fills token_key / webhook_secret_key from the variables the config names, and a
    # variable that merely shares the name is not an override of them.
    settings = _load(
        specs,
        CG_TOKEN_KEY="a" * 44,
        CG_WEBHOOK_SECRET_KEY="b" * 44,
        CG_TOKEN_KEY_ENV="CG_TOKEN_KEY",
    )
    assert settings.token_key_env == "CG_TOKEN_KEY"
    assert settings.token_key == "a" * 44


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False)]
)
def test_boolean_overrides_read_the_usual_spellings(
    specs: dict[str, AdapterSpec], value: str, expected: bool
) -> None:
    assert _load(specs, CG_RUN_WORKER=value).run_worker is expected


def test_the_file_wins_when_no_variable_is_set(specs: dict[str, AdapterSpec]) -> None:
    settings = _load(specs, lambda d: d.update(port=8123, run_worker=False))
    assert settings.port == 8123 and settings.run_worker is False


# --- a wrong config names its key -----------------------------------------------------------------


WRONG: dict[str, tuple[Callable[[dict[str, Any]], Any], dict[str, str | None], str]] = {
    "unknown key in a tenant": (
        lambda d: d["tenants"]["acme"].update(defualt_agency="intrum"),
        {},
        "tenants.acme: Object contains unknown field `defualt_agency`",
    ),
    "unknown key in an agency": (
        lambda d: d["agencies"]["intrum"].update(tokn_url="https://x"),
        {},
        "agencies.intrum: Object contains unknown field `tokn_url`",
    ),
    "unknown key in a rule": (
        lambda d: _rule(d)["when"].update(curency=["SEK"]),
        {},
        "tenants.acme.routing.rules[0].when: Object contains unknown field `curency`",
    ),
    "unknown top-level key": (lambda d: d.update(stor_url="memory://"), {}, "unknown field `stor_url`"),
    "rule naming an agency without credentials": (
        lambda d: d["tenants"]["acme"]["credentials"].pop("debbie"),
        {},
        "tenants.acme.routing.rules[0].agency: 'debbie' has no credentials for this tenant",
    ),
    "rule naming an agency that does not exist": (
        lambda d: _rule(d).update(agency="acmecollect"),
        {},
        "tenants.acme.routing.rules[0].agency: 'acmecollect'",
    ),
    "default agency without credentials": (
        lambda d: d["tenants"]["acme"].update(default_agency="lindorff"),
        {},
        "tenants.acme.default_agency: 'lindorff' has no credentials",
    ),
    "missing secret env var": (
        lambda d: None,
        {"ACME_RIVERTY_SECRET": None},
        "tenants.acme.credentials.riverty.client_secret_env: environment variable ACME_RIVERTY_SECRET is not set",
    ),
    "empty secret env var": (
        lambda d: None,
        {"ACME_DEBBIE_TOKEN": ""},
        "tenants.acme.credentials.debbie.token_env: environment variable ACME_DEBBIE_TOKEN",
    ),
    "unknown agency section": (
        lambda d: d["agencies"].update(acmecollect={"base_url": "https://x"}),
        {},
        "agencies.acmecollect: no adapter named 'acmecollect' is installed",
    ),
    "credentials for an agency without a section": (
        lambda d: d["agencies"].pop("riverty"),
        {},
        "tenants.acme.credentials.riverty: no [agencies.riverty] section",
    ),
    "bad currency in a rule": (
        lambda d: _rule(d)["when"].update(currency=["SEK", "XYZ"]),
        {},
        "tenants.acme.routing.rules[0].when.currency: 'XYZ' is not an ISO 4217 code",
    ),
    "bad claim type in a rule": (
        lambda d: _rule(d)["when"].update(type=["parking_ticket"]),
        {},
        "tenants.acme.routing.rules[0].when.type: 'parking_ticket'",
    ),
    "amount range upside down": (
        lambda d: _rule(d)["when"].update(amount_min=1000, amount_max=10),
        {},
        "tenants.acme.routing.rules[0].when: amount_min is greater than amount_max",
    ),
    "CG_PORT=abc": (lambda d: None, {"CG_PORT": "abc"}, "CG_PORT: 'abc' is not a valid int"),
    "CG_RUN_WORKER=maybe": (lambda d: None, {"CG_RUN_WORKER": "maybe"}, "CG_RUN_WORKER: 'maybe'"),
    "CG_MAX_BODY_BYTES=1.5": (lambda d: None, {"CG_MAX_BODY_BYTES": "1.5"}, "CG_MAX_BODY_BYTES: '1.5'"),
    "port of the wrong type in the file": (
        lambda d: d.update(port="abc"),
        {},
        "port: Expected `int`, got `str`",
    ),
    "key_env unset": (
        lambda d: None,
        {"OPS_API_KEY": None},
        "api_keys[1].key_env: environment variable OPS_API_KEY is not set",
    ),
    "api key without a key": (
        lambda d: d["api_keys"][0].pop("key_sha256"),
        {},
        "api_keys[0]: needs key_sha256",
    ),
    "api key digest that is not SHA-256": (
        lambda d: d["api_keys"][0].update(key_sha256="abc123"),
        {},
        "api_keys[0].key_sha256: not a SHA-256 hex digest",
    ),
    "api key for a tenant that does not exist": (
        lambda d: d["api_keys"][0].update(tenant="globex"),
        {},
        "api_keys[0].tenant: no tenant 'globex'",
    ),
    "unknown scope": (
        lambda d: d["api_keys"][0].update(scopes=["claims:delete"]),
        {},
        "api_keys[0].scopes[0]",
    ),
    "Debbie without voucher_types": (
        lambda d: d["agencies"]["debbie"].pop("voucher_types"),
        {},
        "agencies.debbie.voucher_types: required by the debbie adapter",
    ),
    "Debbie credentials without creditor_id": (
        lambda d: d["tenants"]["acme"]["credentials"]["debbie"].pop("creditor_id"),
        {},
        "tenants.acme.credentials.debbie.creditor_id: required",
    ),
    "Riverty credentials without client_global_id": (
        lambda d: d["tenants"]["acme"]["credentials"]["riverty"].pop("client_global_id"),
        {},
        "tenants.acme.credentials.riverty.client_global_id: required",
    ),
    "Riverty without audience": (
        lambda d: d["agencies"]["riverty"].pop("audience"),
        {},
        "agencies.riverty.audience: required by the riverty adapter",
    ),
    "Intrum without token_url": (
        lambda d: d["agencies"]["intrum"].pop("token_url"),
        {},
        "agencies.intrum.token_url: required by the intrum adapter",
    ),
    "a credential value that is neither text nor number": (
        lambda d: d["tenants"]["acme"]["credentials"]["intrum"].update(sandbox=True),
        {},
        "tenants.acme.credentials.intrum.sandbox",
    ),
    "an unknown store": (lambda d: d.update(store_url="postgres://db"), {}, "store_url: 'postgres://db'"),
    "a body limit of zero": (lambda d: d.update(max_body_bytes=0), {}, "max_body_bytes: must be positive"),
    "no attempts": (lambda d: d.update(max_attempts=0), {}, "max_attempts: must be at least 1"),
    "a computed key written in the file": (
        lambda d: d.update(key_hashes=[]),
        {},
        "key_hashes: not a config key",
    ),
    "agencies that are not a table": (
        lambda d: d.update(agencies=["intrum"]),
        {},
        "agencies: expected a table",
    ),
    "a poll interval that is not a number": (
        lambda d: d["agencies"]["intrum"].update(poll_interval_seconds="often"),
        {},
        "agencies.intrum.poll_interval_seconds: Expected `float`",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_a_wrong_config_stops_start_up_naming_the_key(specs: dict[str, AdapterSpec], case: str) -> None:
    change, env, message = WRONG[case]
    assert message in _refused(specs, change, **env)


def test_a_missing_config_file_is_named(specs: dict[str, AdapterSpec], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nowhere\.toml"):
        load_settings(str(tmp_path / "nowhere.toml"), ENV, specs)


def test_a_config_file_that_is_not_toml_is_named_with_its_line(
    specs: dict[str, AdapterSpec], tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('store_url = "memory://"\n[agencies.intrum\n')
    with pytest.raises(ConfigError, match=r"gateway.toml: .*line 2"):
        load_settings(str(path), ENV, specs)


# --- gaps found while writing these tests (gateway/settings.py is not this suite's to change) -----


@pytest.mark.parametrize("country", ["se", "XX", "SWE"])
def test_a_rule_on_a_country_that_is_not_iso_3166_is_refused(
    specs: dict[str, AdapterSpec], country: str
) -> None:
    message = _refused(specs, lambda d: _rule(d)["when"].update(country=[country]))
    assert "tenants.acme.routing.rules[0].when.country" in message


@pytest.mark.parametrize("env", [{"CG_PORT": "70000"}, {"CG_PORT": "-1"}, {"CG_WORKERS": "0"}])
def test_a_port_or_worker_count_out_of_range_is_refused(
    specs: dict[str, AdapterSpec], env: dict[str, str]
) -> None:
    (name,) = env
    assert name.removeprefix("CG_").lower() in _refused(specs, lambda d: None, **env).lower()
