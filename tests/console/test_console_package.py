"""The console ships inside the wheel: its templates and stylesheet are package data, not repo files."""

from __future__ import annotations

import zipfile
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "gateway" / "console"


def test_every_template_and_static_file_is_in_the_wheel(tmp_path: Path) -> None:
    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assets = [p for folder in ("templates", "static") for p in (CONSOLE / folder).rglob("*") if p.is_file()]
    assert len(assets) > 10
    missing = [str(p.relative_to(ROOT)) for p in assets if str(p.relative_to(ROOT)) not in shipped]
    assert missing == []


def test_no_page_or_stylesheet_loads_anything_from_another_origin() -> None:
    for path in (CONSOLE / "templates").rglob("*.j2"):
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text, path
        assert "style=" not in text, path
        assert "http://" not in text and "https://" not in text, path
