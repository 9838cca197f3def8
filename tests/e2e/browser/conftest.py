"""Playwright (pytest-playwright) on Debian's Chromium: the plugin's `browser` and `page`
fixtures, launched from `/usr/bin/chromium` (or `CHROMIUM_PATH`), never a downloaded
browser. Without Chromium the browser tests skip, saying so; with `CI_REQUIRE_SERVICES=1`
they fail instead, as a missing service does (`.ci/run` installs Chromium)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright

from tests.e2e.browser.server import ServerThread

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or ROOT / "build" / "screenshots")


def chromium_path() -> str:
    """Debian's Chromium, or the reason the browser tests cannot run."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).exists():
        return path
    reason = f"Chromium not found at {path}: apt-get install chromium (or set CHROMIUM_PATH)"
    if os.environ.get("CI_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CI_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """The plugin's `playwright` (and below, the browser), for this package only: between
    calls, sync Playwright marks its event loop as running in the test's thread, which the
    asyncio tests after these would trip on; so it stops when this package's tests end."""
    chromium_path()
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    kind: BrowserType = getattr(playwright, browser_name)
    return kind


@pytest.fixture(scope="package")
def launch_browser(
    browser_type_launch_args: dict[str, Any], browser_type: BrowserType
) -> Callable[..., Browser]:
    def launch(**kwargs: Any) -> Browser:
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    launched = launch_browser()
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """The plugin's launch options (`--headed`, `--slowmo`…) on Debian's Chromium, with
    precise `performance.memory` and `gc()` for the memory test."""
    return {
        **browser_type_launch_args,
        "executable_path": chromium_path(),
        "args": ["--enable-precise-memory-info", "--js-flags=--expose-gc"],
    }


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """The plugin's own `base_url` (without pytest-base-url) is a fixture on an instance,
    which pytest 9 deprecates (a warning: an error in this suite); the tests use whole
    URLs."""
    return None


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    """Instead of the plugin's (which needs its session-wide `playwright`)."""
    return {"viewport": {"width": 1400, "height": 1000}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """One engine for a module's tests (embedded, simulated venues, latency 0)."""
    chromium_path()  # skip before starting anything
    running = ServerThread(tmp_path_factory.mktemp("dashboard"))
    running.start()
    try:
        yield running
    finally:
        running.close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
