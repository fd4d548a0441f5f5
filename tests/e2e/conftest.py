"""Browser fixtures for the e2e tests: the system's Chromium driven by Playwright's sync API.

- `browser` (package: shared by every test in tests/e2e, closed when the run leaves it): headless
  Chromium from `shutil.which("chromium")` (scripts/ensure-chromium.sh installs it). Playwright never
  downloads a browser here. Missing chromium skips locally, fails when the CI variable is set.
- `page`: a fresh page in a fresh context (own localStorage/sessionStorage), closed after the test;
  on failure a screenshot is saved as results/screenshots/FAILED-<test>.png.
- `screenshot`: `screenshot(page, "name")` saves results/screenshots/name.png and returns the path.
- `stub_server` (session): tests/e2e/widget_stub_server.py on a free port, in a background thread.

Every test in tests/e2e gets the `e2e` marker (select with `-m e2e`, skip with `-m "not e2e"`).

Why package scope and plain `def` tests: while Playwright's sync API is started, the main thread has
Playwright's event loop marked as running (its greenlets switch from inside that loop), so any
pytest-asyncio test run meanwhile fails with "Cannot run the event loop while another loop is
running". A session-scoped browser would break every async test collected after tests/e2e (e.g.
tests/nlu); package scope stops Playwright when the run leaves this folder. For the same reason the
tests in this folder must be plain `def` tests using the sync API; servers they need run in their
own threads (see StubServer).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reports import save_screenshot

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_MS = 10_000
_REPORT_KEY = pytest.StashKey()


def _in_ci() -> bool:
    """True when the CI environment variable is set to something other than a false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_REPORT_KEY] = report


def chromium_path() -> str | None:
    return shutil.which("chromium")


@pytest.fixture(scope="package")
def browser():
    """Headless system Chromium, shared by the tests in tests/e2e (see the module docstring)."""
    executable = chromium_path()
    if executable is None:
        message = "chromium is not on PATH: run scripts/ensure-chromium.sh"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    args = ["--disable-dev-shm-usage"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    return save_screenshot


@pytest.fixture
def page(browser, request) -> Iterator:
    """A new page in its own browser context (clean storage), 10 s default timeouts."""
    context = browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors  # type: ignore[attr-defined]  # tests may assert there were none
    try:
        yield page
    finally:
        report = request.node.stash.get(_REPORT_KEY, None)
        if report is not None and report.failed:
            try:
                save_screenshot(page, f"FAILED-{request.node.name}")
            except Exception:  # the page may be gone; the failure itself matters more
                pass
        context.close()


@pytest.fixture(scope="session")
def stub_server():
    """The stub chat server (tests/e2e/widget_stub_server.py) for the whole session."""
    from tests.e2e.widget_stub_server import StubServer

    with StubServer() as server:
        yield server
