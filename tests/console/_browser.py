"""Headless Chromium for the console's browser tests: Debian's `chromium`, driven by Playwright.

Playwright's own browser downloads are never used (`playwright install` needs the internet):
`executable_path` points at the system's Chromium (`CG_CHROMIUM`, else `chromium` on PATH).
Without Chromium or Playwright the browser tests skip, except under CI=true, where they fail:
.ci/run installs both.

`CG_CONSOLE_SCREENSHOTS=docs/console` makes the tests write a PNG of each page there (the ones
docs/console.md shows); a normal run writes none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = os.environ.get("CG_CONSOLE_SCREENSHOTS")


def chromium_path() -> str | None:
    return os.environ.get("CG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    path = chromium_path()
    if path is None:
        _missing("no chromium on PATH (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Any, name: str) -> None:
    """A PNG of the whole page into $CG_CONSOLE_SCREENSHOTS/<name>.png, when that is set."""
    if not SCREENSHOTS:
        return
    folder = Path(SCREENSHOTS)
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
