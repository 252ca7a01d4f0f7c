"""The chart can never produce a config the gateway rejects, and its TOML means what values say."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from gateway.app import create_app
from gateway.settings import load_settings
from tests.deploy.chart import gateway_config, gateway_toml, one, render, secret_env

Manifests = list[dict[str, Any]]


def pod_environment(manifests: Manifests) -> dict[str, str]:
    """What the pods would see: every Secret-backed variable filled with a dummy value."""
    env: dict[str, str] = {}
    for component in ("api", "worker"):
        (container,) = one(manifests, "Deployment", component)["spec"]["template"]["spec"]["containers"]
        for name in secret_env(container):
            # The store URL has to be a URL; every other secret is opaque to the loader.
            env[name] = "redis://127.0.0.1:6379/0" if name == "CG_STORE_URL" else f"dummy-{name.lower()}"
        env |= {item["name"]: item["value"] for item in container["env"] if "value" in item}
    return env


def test_rendered_config_is_accepted_by_the_gateway_loader(
    rendering: tuple[str, Manifests], tmp_path: Path
) -> None:
    name, manifests = rendering
    path = tmp_path / "gateway.toml"
    path.write_text(gateway_toml(manifests), encoding="utf-8")
    env = pod_environment(manifests)
    assert env["CG_CONFIG"] == "/etc/collection-gateway/gateway.toml"

    settings = load_settings(str(path), env)

    assert settings.run_worker is False
    assert settings.store_url.startswith("redis://")
    config = gateway_config(manifests)
    assert set(settings.tenants) == set(config.get("tenants", {}))
    assert len(settings.key_hashes) == len(config.get("api_keys", []))
    if name == "production":
        assert settings.credential("acme", "intrum") is not None
        assert settings.credential("acme", "riverty").fields["client_global_id"] == 4711


# ---------------------------------------------------------------- the chart's TOML writer

# Values reach helm's templates as float64 whatever YAML said; the chart writes integral numbers
# as TOML integers. Beyond 2**53 a float64 cannot hold every integer, so neither can values.yaml.
numbers = st.integers(min_value=-(2**53), max_value=2**53) | st.floats(
    allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64
)
# Any text helm can carry: quotes, backslashes, C0 controls, non-ASCII and astral characters.
# Not DEL, C1 controls or U+FEFF/U+FFFE/U+FFFF: when a chart has a values schema, helm round-trips
# the values through go-yaml, which refuses those raw ("control characters are not allowed").
text = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="".join(map(chr, range(0x7F, 0xA0))) + "\ufeff\ufffe\uffff",
    ),
    max_size=12,
)
keys = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), max_codepoint=0x2FF), min_size=1, max_size=8
)
scalars = st.booleans() | numbers | text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=12,
)


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and expected.keys() == got.keys()
            and all(_same(v, got[k]) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(got, list) and len(expected) == len(got) and all(map(_same, expected, got))
    if isinstance(expected, bool) or isinstance(got, bool):
        return expected is got
    if isinstance(expected, int | float):
        return isinstance(got, int | float) and expected == got
    return bool(expected == got)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section=st.dictionaries(keys, values, max_size=4))
def test_any_values_section_comes_out_as_the_same_toml(
    section: dict[str, Any], tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("values") / "values.yaml"
    # JSON is YAML; json.dumps escapes the C0 controls that YAML may not carry raw.
    path.write_text(json.dumps({"config": {"x_section": section}}, ensure_ascii=False), encoding="utf-8")
    toml = gateway_toml(render(values=[path]))
    rendered = tomllib.loads(toml).get("x_section")
    assert _same(section, rendered), toml


def test_numbers_and_booleans_set_on_the_command_line_keep_their_types() -> None:
    config = gateway_config(
        render(
            sets=["config.idempotency_ttl_seconds=3600", "config.max_attempts=3"],
            set_json=["config.retry_base_seconds=0.5", "config.x_flag=true"],
        )
    )
    assert config["idempotency_ttl_seconds"] == 3600 and isinstance(config["idempotency_ttl_seconds"], int)
    assert config["max_attempts"] == 3 and isinstance(config["max_attempts"], int)
    assert config["retry_base_seconds"] == 0.5
    assert config["x_flag"] is True


def test_probe_and_scrape_paths_answer_on_the_real_app(production: Manifests) -> None:
    (api,) = one(production, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    paths = {api[probe]["httpGet"]["path"] for probe in ("livenessProbe", "readinessProbe", "startupProbe")}
    paths |= {endpoint["path"] for endpoint in one(production, "ServiceMonitor", "api")["spec"]["endpoints"]}
    assert paths == {"/health/live", "/health/ready", "/metrics"}
    # The embedded store: what is checked here is the routes, not Redis.
    with TestClient(app=create_app(load_settings(None, {}))) as client:
        answers = {path: client.get(path).status_code for path in sorted(paths)}
    assert answers == dict.fromkeys(sorted(paths), 200)
