"""Helpers of the browser tests: open the dashboard, call the API beside it."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.browser.server import ServerThread

KEY_ITEM = "order-engine.apiKey"


def api(server: ServerThread, method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.base_url, timeout=10, headers=headers) as client:
        answer = client.request(method, path, **kw)
    assert answer.status_code < 300, answer.text
    return answer.json()


def open_dashboard(page: Page, server: ServerThread, fragment: str = "") -> None:
    """The dashboard, signed in (the key put where the login form keeps it), live."""
    page.add_init_script(f"sessionStorage.setItem({KEY_ITEM!r}, {server.api_key!r})")
    page.goto(f"{server.base_url}/{fragment}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")


def row_status(page: Page, order_id: str) -> Any:
    return page.locator(f"tr[data-order-id='{order_id}'] .status-cell")
