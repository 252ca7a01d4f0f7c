"""The chart's alerts and dashboard: off by default, schema-valid, and only about metrics the
gateway really exports (a renamed metric must not silently blind an alert)."""

from __future__ import annotations

import json
import re
from typing import Any

from prometheus_client import REGISTRY

import adapters._upstream.metrics
import gateway.metrics
from tests.deploy.chart import of_kind, one, render
from tests.deploy.test_chart import K8S_VERSIONS, validate_manifests

Manifests = list[dict[str, Any]]
ALERTS = {
    "CollectionGatewayBacklogGrowing",
    "CollectionGatewayOutboxStale",
    "CollectionGatewayFeedLagging",
    "CollectionGatewayBreakerOpen",
    "CollectionGatewayWebhookEndpointFailing",
    "CollectionGatewayErrorRatio",
}


def exported_series() -> set[str]:
    assert gateway.metrics.OUTBOX_DEPTH and adapters._upstream.metrics.REQUESTS  # both registered
    names = set()
    for family in REGISTRY.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def referenced(expr: str) -> set[str]:
    return set(re.findall(r"\bcg_[a-z_]+\b", expr))


def rules(manifests: Manifests) -> list[dict[str, Any]]:
    (rule,) = of_kind(manifests, "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def dashboard(manifests: Manifests) -> dict[str, Any]:
    (config_map,) = [
        doc for doc in of_kind(manifests, "ConfigMap") if doc["metadata"]["name"].endswith("-dashboard")
    ]
    return json.loads(config_map["data"]["collection-gateway.json"])  # type: ignore[no-any-return]


def test_alerts_and_dashboard_are_off_by_default() -> None:
    manifests = render()
    assert not of_kind(manifests, "PrometheusRule")
    assert not [
        doc for doc in of_kind(manifests, "ConfigMap") if doc["metadata"]["name"].endswith("-dashboard")
    ]


def test_every_alert_the_runbook_explains_is_rendered_and_schema_valid(production: Manifests) -> None:
    assert {r["alert"] for r in rules(production)} == ALERTS
    rule = one(production, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert validate_manifests.problems(rule, K8S_VERSIONS) == []
    broken = json.loads(json.dumps(rule))
    broken["spec"]["groups"][0]["rules"][0]["exp"] = broken["spec"]["groups"][0]["rules"][0].pop("expr")
    assert validate_manifests.problems(broken, K8S_VERSIONS)
    with open("docs/operations.md", encoding="utf-8") as runbook:
        text = runbook.read()
    assert all(f"`{alert}`" in text for alert in ALERTS)


def test_thresholds_come_from_the_values() -> None:
    manifests = render(
        sets=[
            "metrics.prometheusRule.enabled=true",
            "metrics.prometheusRule.outboxOldestSeconds=600",
            "metrics.prometheusRule.feedLagIntervals=20",
        ]
    )
    exprs = {r["alert"]: r["expr"] for r in rules(manifests)}
    assert exprs["CollectionGatewayOutboxStale"].endswith("> 600")
    assert "20 * max by (agency) (cg_feed_interval_seconds)" in exprs["CollectionGatewayFeedLagging"]


def test_alerts_and_panels_use_only_metrics_the_gateway_exports(production: Manifests) -> None:
    exported = exported_series()
    board = dashboard(production)
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert board["uid"] == "collection-gateway" and len(panels) >= 15
    exprs = [r["expr"] for r in rules(production)]
    exprs += [target["expr"] for panel in panels for target in panel["targets"]]
    used = set().union(*(referenced(expr) for expr in exprs))
    assert used and used <= exported, used - exported
