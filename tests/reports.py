"""Where tests write the figures they report (accuracy tables, screen figures, screenshots).

`TEST_REPORTS_DIR` when set (`make test` sets it to `results/`, which git ignores); otherwise a
folder under the system's temporary directory, so a plain `pytest` never writes into the checkout.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def reports_dir() -> Path:
    """The reports folder (not created here: each writer makes its own)."""
    configured = os.environ.get("TEST_REPORTS_DIR", "").strip()
    return (Path(configured) if configured else Path(tempfile.gettempdir()) / "clinic-test-reports").resolve()


def save_screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Save a Playwright `page` as <reports>/screenshots/<name>.png (the folder is created)."""
    folder = reports_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"
    path = folder / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
