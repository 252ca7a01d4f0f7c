"""Validate rendered Kubernetes manifests against the Kubernetes JSON schemas, offline.

    python scripts/validate_manifests.py [--kubernetes-version 1.25.0 ...] FILE|- ...

Built-in kinds are checked strictly (unknown fields are errors) with the schemas that the PyPI
package kubernetes-validate ships, for each Kubernetes version asked for (default: the chart's
oldest supported version and the newest the package knows). Custom resources are checked against
the schemas in scripts/schemas/. A kind with no schema is an error, never a silent pass.
Exit status 0 when every document validates, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, all_versions

# The chart's Chart.yaml says kubeVersion >=1.25.0-0: validate against both ends of the range.
OLDEST_SUPPORTED = "1.25.0"
SCHEMAS = Path(__file__).parent / "schemas"
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring.coreos.com-v1.json",
}


def documents(sources: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for source in sources:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        for index, doc in enumerate(yaml.safe_load_all(text)):
            if doc is not None:
                found.append((f"{source}#{index}", doc))
    return found


def problems(doc: dict[str, Any], versions: list[str]) -> list[str]:
    """Everything wrong with one manifest, as messages (empty = valid)."""
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    name = (doc.get("metadata") or {}).get("name")
    if not (kind and api_version and name):
        return ["not a Kubernetes object (needs apiVersion, kind and metadata.name)"]
    custom = CUSTOM.get((api_version, kind))
    if custom is not None:
        schema = json.loads((SCHEMAS / custom).read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema)
        return [f"{_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    found = []
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"k8s {version}: {_path(exc.path)}: {exc.message}")
        except SchemaNotFoundError:
            found.append(f"k8s {version}: no schema for {api_version} {kind}")
    return found


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(part) for part in parts) or "(document)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sources", nargs="+", help="manifest files, or - for stdin")
    parser.add_argument(
        "-k",
        "--kubernetes-version",
        action="append",
        dest="versions",
        help="repeatable (default: oldest, newest)",
    )
    args = parser.parse_args(argv)
    versions = args.versions or [OLDEST_SUPPORTED, all_versions()[-1]]
    failed = 0
    docs = documents(args.sources)
    for where, doc in docs:
        label = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        for problem in problems(doc, versions):
            print(f"INVALID {where} {label}: {problem}")
            failed += 1
    if not docs:
        print("INVALID: no manifests to validate")
        return 1
    print(f"{len(docs)} manifests checked against Kubernetes {', '.join(versions)}: {failed} problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
