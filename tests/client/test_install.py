"""`pip install ./clients/python` builds and installs the client package with its type marker.

Offline: a throw-away venv layered on the project's (whose site-packages already hold httpx,
msgspec, stamina and hatchling), `pip install --no-deps --no-build-isolation`; the installed
package, not the source tree, is what then imports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_client_package_installs_and_imports_from_site_packages(tmp_path: Path) -> None:
    home = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = home / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1")

    def run(*args: str | Path) -> str:
        done = subprocess.run(
            [str(python), *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    site = run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    Path(site, "_project_venv.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
    )
    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", ROOT / "clients" / "python")
    where = run(
        "-c",
        "import collection_gateway_client as c, importlib.metadata as m, pathlib;"
        "p = pathlib.Path(c.__file__).parent;"
        "assert (p / 'py.typed').exists(), 'py.typed';"
        "print(m.version('collection-gateway-client'), p)",
    )
    version, path = where.split(" ", 1)
    assert version == "0.1.0"
    assert Path(path).is_relative_to(home), path
    requires = run(
        "-c", "import importlib.metadata as m; print('|'.join(m.requires('collection-gateway-client')))"
    )
    assert {r.split(">")[0].split("<")[0] for r in requires.split("|")} == {"httpx", "msgspec", "stamina"}


@pytest.mark.parametrize("module", ["collection_gateway", "gateway", "canonical", "litestar"])
def test_the_client_needs_nothing_of_the_server(module: str) -> None:
    source = "\n".join(
        p.read_text() for p in (ROOT / "clients/python/src/collection_gateway_client").glob("*.py")
    )
    assert not re.search(rf"^\s*(import|from) {module}(\.|\s)", source, re.MULTILINE)
