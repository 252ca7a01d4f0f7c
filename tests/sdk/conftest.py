"""A throw-away Python environment layered on the project's virtualenv, for installing adapter
packages the way a platform team would (`pip install -e`) without touching the project's venv.

The overlay is a venv whose one `.pth` line adds the project venv's site-packages (and so its
editable gateway), so it sees every installed package; what is installed into it lands in the
overlay only. Other tests, and other processes using the project venv, never see it.
One overlay per session; each package is installed once (module-scoped fixtures).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Overlay:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.python = home / "bin" / "python"
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PYTEST_", "PYTHONPATH", "VIRTUAL_ENV", "COV_"))
        }
        self.env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1")

    def run(
        self, *args: str | Path, cwd: Path, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *map(str, args)],
            cwd=cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str | Path, cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.python), *map(str, args)],
            cwd=cwd,
            env={**self.env, **kwargs.pop("env", {})},
            text=True,
            **kwargs,
        )

    def install(self, package: Path, cwd: Path) -> None:
        """`pip install -e package`, offline when the build backend is in the project venv."""
        isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-build-isolation"]
        done = self.run("-m", "pip", "install", "--quiet", "--no-deps", *isolation, "-e", package, cwd=cwd)
        assert done.returncode == 0, f"pip install -e {package} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Overlay]:
    home = tmp_path_factory.mktemp("overlay-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    env = Overlay(home)
    site = env.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    # `import site` lines in a .pth run at start-up: the parent's own .pth files (the editable
    # gateway) are processed too, which a plain path line would not do.
    Path(site, "_project_venv.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    yield env
