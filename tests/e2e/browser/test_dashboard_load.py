"""The dashboard under load and across a restart, in a real browser: the first paint with
1,000 orders in the table (measured with the Performance API), the page's memory over a
2,000-order run, and a server stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from order_engine.adapters.clock import SystemClock
from order_engine.domain.orders import Order, OrderType
from tests.e2e.browser.conftest import chromium_path, screenshot_path
from tests.e2e.browser.dash import api, open_dashboard, row_status
from tests.e2e.browser.server import ServerThread

pytestmark = pytest.mark.e2e
FIRST_PAINT_BUDGET_MS = 1000
ALL_ROWS_LIMIT_MS = 10_000
MAX_ROWS = 1000


@pytest.fixture
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    chromium_path()
    running = ServerThread(tmp_path_factory.mktemp("dashboard"), recovery_interval_s=3600)
    running.start()
    try:
        yield running
    finally:
        running.close()


async def insert_orders(server: ServerThread, count: int) -> None:
    """`count` orders of the admin account, straight into the store (pending, no job)."""
    engine = server.engine
    (account,) = await engine.adapters.accounts.list_accounts()
    now, types = SystemClock().now_ms(), list(OrderType)
    for n in range(count):
        order = Order(
            id=str(uuid.uuid4()), token_in="SOL", token_out="USDC", amount_in=Decimal(n + 1),
            slippage_bps=50, created_ms=now - count + n, type=types[n % 3],
            account_id=account.id,
        )  # fmt: skip
        await engine.store.create(order, order.start())


def test_the_first_paint_with_1000_orders_is_under_a_second(
    page: Page, fresh_server: ServerThread
) -> None:
    fresh_server.call(insert_orders(fresh_server, MAX_ROWS))
    open_dashboard(page, fresh_server)
    page.wait_for_function("() => performance.getEntriesByName('orders-loaded').length > 0")
    timings: dict[str, Any] = page.evaluate("""() => ({
        fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
        firstPage: performance.getEntriesByName('orders-first-page')[0].startTime,
        loaded: performance.getEntriesByName('orders-loaded')[0].startTime,
        rows: document.querySelectorAll('#orders tbody tr').length,
    })""")
    print(f"first paint with {MAX_ROWS} orders: {timings}")
    assert timings["rows"] == MAX_ROWS
    assert timings["fcp"] < FIRST_PAINT_BUDGET_MS, timings
    # the first page paints before the rest arrives; how long all 1,000 rows take depends on
    # the machine (~0.74 s on a Xeon, ~2 s on an EPYC core): bounded here only as a hang
    assert timings["firstPage"] < timings["loaded"] < ALL_ROWS_LIMIT_MS, timings


def page_memory(page: Page) -> dict[str, int]:
    page.evaluate("window.gc && window.gc()")
    memory: dict[str, int] = page.evaluate("""() => ({
        heap: performance.memory.usedJSHeapSize,
        nodes: document.getElementsByTagName('*').length,
        rows: document.querySelectorAll('#orders tbody tr').length,
        kept: window.dashboard.book.orders.size,
        events: window.dashboard.state.events,
    })""")
    return memory


async def submit_many(server: ServerThread, count: int, concurrency: int = 16) -> list[str]:
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {server.api_key}"}
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.1", "slippageBps": 500}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as client:

        async def worker(share: int) -> None:
            for _ in range(share):
                answer = await client.post("/api/orders/execute", json=body)
                assert answer.status_code == 201, answer.text
                ids.append(answer.json()["orderId"])

        await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))
    return ids


def test_the_page_does_not_grow_over_a_2000_order_run(
    page: Page, fresh_server: ServerThread
) -> None:
    open_dashboard(page, fresh_server)
    samples = []
    for _ in range(2):
        ids = fresh_server.call(submit_many(fresh_server, 1000), timeout_s=120)
        expect(row_status(page, ids[-1])).to_have_attribute(
            "data-status", "confirmed", timeout=60_000
        )
        samples.append(page_memory(page))
    print(f"after 1,000 and 2,000 orders: {samples}")
    half, full = samples
    assert full["events"] >= 2 * 1000 * 5 * 0.99  # the feed brought (nearly) every event
    assert full["rows"] <= MAX_ROWS and full["kept"] <= MAX_ROWS
    assert full["nodes"] <= half["nodes"] * 1.05  # the DOM stays bounded
    assert full["heap"] <= half["heap"] * 1.5, samples  # and so does the JS heap


def submit(server: ServerThread, amount: str) -> str:
    body = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": amount}
    order_id: str = api(server, "POST", "/api/orders/execute", json=body)["orderId"]
    return order_id


def test_a_restart_shows_disconnected_then_reconnects_and_resumes(
    page: Page, fresh_server: ServerThread
) -> None:
    open_dashboard(page, fresh_server)
    before = submit(fresh_server, "1")
    expect(row_status(page, before)).to_have_attribute("data-status", "confirmed")
    fresh_server.stop()
    conn = page.locator("#conn")
    expect(conn).to_have_attribute("data-state", "disconnected")
    expect(conn).to_contain_text("Disconnected")
    page.screenshot(path=screenshot_path("dashboard-disconnected"))
    fresh_server.start()  # the same port and data folder
    expect(conn).to_have_attribute("data-state", "live", timeout=10_000)
    after = submit(fresh_server, "2")
    expect(row_status(page, after)).to_have_attribute("data-status", "confirmed")
    expect(row_status(page, before)).to_have_attribute("data-status", "confirmed")
