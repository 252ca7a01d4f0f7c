# syntax=docker/dockerfile:1
# collection-gateway: `serve` (API) by default; the Helm chart runs `worker` from the same image.
#
#   docker build -t collection-gateway:0.1.0 .
#   docker run --rm -p 8000:8000 -v $PWD/gateway.toml:/etc/collection-gateway/gateway.toml:ro \
#     -e CG_CONFIG=/etc/collection-gateway/gateway.toml collection-gateway:0.1.0
#
# The final stage is the slim Python base plus a virtualenv copied from the build stage: no
# compiler, no pip cache, no sources, running as an unprivileged numeric user (Kubernetes checks
# runAsNonRoot against the numeric UID).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build: resolve and install
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, from pyproject.toml itself, so that a code change reuses this layer. The
# `otel` extra too: traces turn on with the OTEL_* environment alone (gateway/tracing.py).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['otel']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

COPY canonical ./canonical
COPY adapters ./adapters
COPY gateway ./gateway
COPY collection_gateway ./collection_gateway
# Installs the project as a wheel (not editable): the entry points (console script, adapters)
# are registered in the venv and the sources are not needed at run time.
RUN pip install --no-cache-dir --no-deps . \
    && python -m compileall -q /opt/venv/lib \
    && pip uninstall --yes pip setuptools

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="collection-gateway" \
      org.opencontainers.image.description="One REST API in front of several debt-collection agencies"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin gateway

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /tmp
EXPOSE 8000

# No curl in the slim image: ask /health/live with the standard library (urlopen raises on
# anything but 2xx, which exits non-zero).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('CG_PORT', '8000'), timeout=3)"]

ENTRYPOINT ["collection-gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
