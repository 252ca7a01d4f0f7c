"""The Helm chart, rendered by helm itself: what Kubernetes gets must hold the deploy guarantees."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import pytest

from tests.deploy.chart import (
    CHART,
    PRODUCTION_VALUES,
    ROOT,
    RenderError,
    containers,
    gateway_config,
    gateway_toml,
    of_kind,
    one,
    pod_specs,
    render,
    run_helm,
    secret_env,
)

Manifests = list[dict[str, Any]]
SECRET_LIKE = re.compile(r"secret|token|password|passwd|pwd|private|api_?key|credential", re.IGNORECASE)


def _validator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "validate_manifests", ROOT / "scripts" / "validate_manifests.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


validate_manifests = _validator()
K8S_VERSIONS = [validate_manifests.OLDEST_SUPPORTED, validate_manifests.all_versions()[-1]]


# ---------------------------------------------------------------- lint and schemas


@pytest.mark.parametrize("values", [(), (PRODUCTION_VALUES,)], ids=["default", "production"])
def test_chart_is_lint_clean(values: tuple[Any, ...]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in values:
        args += ["--values", str(path)]
    done = run_helm(*args)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rendered_manifest_is_valid_against_the_kubernetes_schemas(
    rendering: tuple[str, Manifests],
) -> None:
    _, manifests = rendering
    problems = {
        f"{doc['kind']}/{doc['metadata']['name']}": found
        for doc in manifests
        if (found := validate_manifests.problems(doc, K8S_VERSIONS))
    }
    assert problems == {}


def test_schema_validation_catches_a_misspelt_field(production: Manifests) -> None:
    deployment = dict(one(production, "Deployment", "api"))
    deployment["spec"] = {**deployment["spec"], "replica": 3}
    assert validate_manifests.problems(deployment, K8S_VERSIONS)
    monitor = one(production, "ServiceMonitor", "api")
    broken = {**monitor, "spec": {**monitor["spec"], "endpoints": [{"port": "http", "paht": "/metrics"}]}}
    assert validate_manifests.problems(broken, K8S_VERSIONS)


def test_a_kind_without_schema_is_an_error_not_a_pass() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    assert validate_manifests.problems(unknown, K8S_VERSIONS)


def test_values_with_a_misspelt_key_are_refused() -> None:
    with pytest.raises(RenderError, match="replica"):
        render(sets=["api.replica=3"])


# ---------------------------------------------------------------- secrets


def test_configmap_holds_no_secret_values(rendering: tuple[str, Manifests]) -> None:
    _, manifests = rendering
    config = gateway_config(manifests)
    for tenant_name, tenant in config.get("tenants", {}).items():
        for agency, credential in tenant.get("credentials", {}).items():
            for key in credential:
                if SECRET_LIKE.search(key):
                    assert key.endswith(("_env", "_file")), (
                        f"tenants.{tenant_name}.credentials.{agency}.{key}"
                    )
    for key in config.get("api_keys", []):
        assert set(key) & {"key_env"} and "key_sha256" not in key
    assert "@" not in config.get("store_url", ""), "Redis credentials in the ConfigMap"
    for configmap in of_kind(manifests, "ConfigMap"):
        for name, text in configmap["data"].items():
            assert "BEGIN" not in text and "PRIVATE" not in text, name


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (["config.tenants.acme.credentials.intrum.client_secret=hunter2"], "client_secret"),
        (["config.tenants.acme.credentials.debbie.token=hunter2"], "credentials.debbie.token"),
        (["config.tenants.acme.credentials.riverty.password=hunter2"], "password"),
        (["redis.url=redis://:hunter2@redis:6379/0"], "redis.url"),
        (["config.store_url=redis://:hunter2@redis:6379/0"], "config.store_url"),
    ],
    ids=["client_secret", "token", "password", "redis-password", "store_url"],
)
def test_a_secret_written_into_values_is_refused_naming_the_key(sets: list[str], named: str) -> None:
    base = ["config.tenants.acme.default_agency=intrum", "secrets.existingSecret=s"]
    with pytest.raises(RenderError) as refused:
        render(sets=[*base, *sets])
    assert named in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_an_api_key_must_come_from_the_secret() -> None:
    # The values schema or the template refuses it; either way the message names the entry.
    with pytest.raises(RenderError, match=r"api_keys(\[0\]|\.0).*key_(env|sha256)"):
        render(set_json=['config.api_keys=[{"scopes": ["admin"], "key_sha256": "' + "0" * 64 + '"}]'])


def test_a_config_naming_a_variable_without_a_secret_to_fill_it_is_refused() -> None:
    with pytest.raises(RenderError, match="ACME_INTRUM_SECRET"):
        render(
            sets=[
                "config.tenants.acme.default_agency=intrum",
                "config.tenants.acme.credentials.intrum.client_secret_env=ACME_INTRUM_SECRET",
            ]
        )


def test_every_variable_the_config_names_is_set_from_a_secret_in_both_workloads(
    production: Manifests,
) -> None:
    config = gateway_config(production)
    named = {
        value
        for tenant in config["tenants"].values()
        for credential in tenant.get("credentials", {}).values()
        for key, value in credential.items()
        if key.endswith("_env")
    } | {key["key_env"] for key in config["api_keys"]}
    assert config["webhooks"]["secret_key_env"] == "WEBHOOK_SECRET_KEY"
    named.add(config["webhooks"]["secret_key_env"])
    assert named  # the production example names secrets; an empty set would prove nothing
    for component in ("api", "worker"):
        (container,) = one(production, "Deployment", component)["spec"]["template"]["spec"]["containers"]
        refs = secret_env(container)
        assert named <= set(refs), component
        assert refs["ACME_INTRUM_SECRET"] == {
            "name": "collection-gateway-secrets",
            "key": "ACME_INTRUM_SECRET",
        }
        # secrets.env maps one variable to another Secret and key.
        assert refs["ADMIN_API_KEY"] == {"name": "collection-gateway-admin", "key": "api-key"}
        assert refs["CG_STORE_URL"] == {"name": "collection-gateway-redis", "key": "store-url"}
        plain = {env["name"] for env in container["env"] if "value" in env}
        assert plain == {"CG_CONFIG"}, "a variable set in clear in the pod spec"
    assert "store_url" not in config, "the Secret-held Redis URL must not also sit in the ConfigMap"


# ---------------------------------------------------------------- pods


def test_every_container_runs_as_non_root_with_a_read_only_root_filesystem(
    rendering: tuple[str, Manifests],
) -> None:
    _, manifests = rendering
    pods = list(pod_specs(manifests))
    assert {name.rsplit("-", 1)[-1] for name, _ in pods} == {"api", "worker"}
    for name, pod in pods:
        pod_context = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, name
        mounts_tmp = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
        for container in containers(pod):
            context = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            assert context.get("runAsUser", pod_context.get("runAsUser", 0)) != 0, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("capabilities", {}).get("add"), where
            tmp = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in mounts_tmp, f"{where}: /tmp is not a writable emptyDir"
            assert container.get("resources", {}).get("limits", {}).get("memory"), where


def test_api_probes_point_at_the_gateway_health_paths(rendering: tuple[str, Manifests]) -> None:
    _, manifests = rendering
    (api,) = one(manifests, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    assert ports == {"http": 8000}
    expected = {
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health/live",
    }
    for probe, path in expected.items():
        assert api[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    assert api["args"][api["args"].index("--port") + 1] == "8000"


def test_worker_probes_point_at_its_own_health_port(rendering: tuple[str, Manifests]) -> None:
    _, manifests = rendering
    (worker,) = one(manifests, "Deployment", "worker")["spec"]["template"]["spec"]["containers"]
    assert {port["name"]: port["containerPort"] for port in worker["ports"]} == {"metrics": 9000}
    assert worker["args"][worker["args"].index("--port") + 1] == "9000"
    assert worker["args"][worker["args"].index("--host") + 1] == "0.0.0.0"
    expected = {
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health/live",
    }
    for probe, path in expected.items():
        assert worker[probe]["httpGet"] == {"path": path, "port": "metrics"}, probe


def test_api_serves_and_worker_delivers_from_the_same_config(rendering: tuple[str, Manifests]) -> None:
    _, manifests = rendering
    (api,) = one(manifests, "Deployment", "api")["spec"]["template"]["spec"]["containers"]
    (worker,) = one(manifests, "Deployment", "worker")["spec"]["template"]["spec"]["containers"]
    config_path = "/etc/collection-gateway/gateway.toml"
    assert [*api["command"], *api["args"][:3]] == ["collection-gateway", "serve", "--config", config_path]
    assert [*worker["command"], *worker["args"][:3]] == [
        "collection-gateway",
        "worker",
        "--config",
        config_path,
    ]
    # Delivery runs in the worker Deployment only: API pods must not start a worker of their own.
    assert gateway_config(manifests)["run_worker"] is False


def test_worker_replicas_are_independent_of_api_replicas() -> None:
    manifests = render(sets=["api.replicas=5", "worker.replicas=2"])
    assert one(manifests, "Deployment", "api")["spec"]["replicas"] == 5
    assert one(manifests, "Deployment", "worker")["spec"]["replicas"] == 2

    manifests = render(
        sets=["api.autoscaling.enabled=true", "api.autoscaling.maxReplicas=9", "worker.replicas=3"]
    )
    assert "replicas" not in one(manifests, "Deployment", "api")["spec"], "the HPA owns the api count"
    assert one(manifests, "Deployment", "worker")["spec"]["replicas"] == 3
    hpa = one(manifests, "HorizontalPodAutoscaler", "api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == one(manifests, "Deployment", "api")["metadata"]["name"]
    assert hpa["spec"]["maxReplicas"] == 9
    assert not [
        doc for doc in of_kind(manifests, "HorizontalPodAutoscaler") if "worker" in doc["metadata"]["name"]
    ]


def test_each_workload_has_its_own_autoscaler_and_disruption_budget(production: Manifests) -> None:
    for component in ("api", "worker"):
        deployment = one(production, "Deployment", component)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert deployment["spec"]["template"]["metadata"]["labels"].items() >= selector.items()
        hpa = one(production, "HorizontalPodAutoscaler", component)
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        assert (
            one(production, "PodDisruptionBudget", component)["spec"]["selector"]["matchLabels"] == selector
        )
    api_selector = one(production, "Deployment", "api")["spec"]["selector"]["matchLabels"]
    worker_selector = one(production, "Deployment", "worker")["spec"]["selector"]["matchLabels"]
    assert api_selector != worker_selector, "a PDB or HPA would count the other workload's pods"


def test_a_config_change_rolls_the_pods() -> None:
    before = render()
    after = render(sets=["config.log_level=DEBUG"])
    for component in ("api", "worker"):
        old = one(before, "Deployment", component)["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        new = one(after, "Deployment", component)["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        assert old != new, component


# ---------------------------------------------------------------- network and monitoring


def test_service_and_monitor_reach_the_api_pods_only(production: Manifests) -> None:
    api_labels = one(production, "Deployment", "api")["spec"]["template"]["metadata"]["labels"]
    service = one(production, "Service", "api")
    assert api_labels.items() >= service["spec"]["selector"].items()
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = one(production, "ServiceMonitor", "api")
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert service["metadata"]["labels"].items() >= monitor["spec"]["selector"]["matchLabels"].items()
    backend = one(production, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}


def test_the_workers_metrics_are_scraped_through_a_headless_service_of_their_own(
    production: Manifests,
) -> None:
    worker_pod = one(production, "Deployment", "worker")["spec"]["template"]
    service = one(production, "Service", "worker")
    assert service["spec"]["clusterIP"] == "None"  # no API behind it: Prometheus finds the pods
    assert worker_pod["metadata"]["labels"].items() >= service["spec"]["selector"].items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9000, "targetPort": "metrics", "protocol": "TCP"}
    ]
    monitor = one(production, "ServiceMonitor", "worker")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert service["metadata"]["labels"].items() >= monitor["spec"]["selector"]["matchLabels"].items()


def test_the_service_monitor_is_optional() -> None:
    manifests = render()
    assert not of_kind(manifests, "ServiceMonitor")
    assert [
        s["metadata"]["labels"]["app.kubernetes.io/component"] for s in of_kind(manifests, "Service")
    ] == ["api"]


def test_pods_may_reach_only_dns_redis_and_the_agencies(rendering: tuple[str, Manifests]) -> None:
    _, manifests = rendering
    policies = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc
        for doc in of_kind(manifests, "NetworkPolicy")
    }
    assert set(policies) == {"api", "worker"}
    for component, policy in policies.items():
        assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"], component
        egress = policy["spec"]["egress"]
        ports = [sorted((port["protocol"], port["port"]) for port in rule["ports"]) for rule in egress]
        assert ports == [
            [("TCP", 53), ("UDP", 53)],
            [("TCP", 6379), ("TCP", 26379)],
            [("TCP", 443)],
        ], component
        assert all(rule.get("to") for rule in egress), (
            f"{component}: an egress rule without peers allows everything"
        )
        agencies = egress[2]["to"][0]["ipBlock"]
        assert agencies["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in agencies["except"]
    (worker_ingress,) = policies["worker"]["spec"]["ingress"]  # its metrics and health port only
    assert worker_ingress["ports"] == [{"protocol": "TCP", "port": 9000}]
    (api_ingress,) = policies["api"]["spec"]["ingress"]
    assert api_ingress["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_rendered_toml_is_readable_by_people(production: Manifests) -> None:
    text = gateway_toml(production)
    assert "[tenants.acme.credentials.riverty]" in text
    assert "client_global_id = 4711\n" in text  # an integer, not 4711.0 as helm's toToml writes
    assert "[[tenants.acme.routing.rules]]" in text
