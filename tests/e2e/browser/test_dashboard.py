"""The dashboard in a real browser (Debian's Chromium through pytest-playwright), against
the real engine on the chain venues: submit from the form and watch the row confirm, the
order's page against the API, cancel a waiting limit order, keyboard and no-colour use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import chromium_path, screenshot_path
from tests.e2e.browser.dash import api, open_dashboard, row_status
from tests.e2e.browser.server import ServerThread

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The chain venues (real programs, real transactions: slots, fees, compute units)."""
    chromium_path()
    running = ServerThread(tmp_path_factory.mktemp("dashboard"), venues="chain")
    running.start()
    try:
        yield running
    finally:
        running.close()


def test_sign_in_submit_from_the_form_and_watch_the_row_confirm(
    page: Page, server: ServerThread
) -> None:
    page.goto(server.base_url)
    expect(page.get_by_role("heading", name="Sign in with an API key")).to_be_visible()
    page.get_by_role("textbox", name="API key").fill(server.api_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    assert page.evaluate("sessionStorage.length") == 1  # kept for this tab only
    assert page.evaluate("localStorage.length") == 0

    page.get_by_label("Amount in").fill("2")
    page.get_by_role("button", name="Preview quote").click()
    expect(page.get_by_test_id("preview-summary")).to_contain_text("Expect")
    page.get_by_role("button", name="Submit order").click()
    accepted = page.locator("#submit-result a")
    expect(accepted).to_be_visible()
    order_id = accepted.get_attribute("data-order-id")
    assert order_id
    expect(row_status(page, order_id)).to_have_attribute("data-status", "confirmed")
    expect(row_status(page, order_id)).to_contain_text("confirmed")
    assert api(server, "GET", f"/api/orders/{order_id}")["status"] == "confirmed"
    expect(page.locator("#chart-legend")).to_contain_text("raydium")
    page.screenshot(path=screenshot_path("dashboard"))


def test_the_order_page_shows_the_routing_decision_the_api_gives(
    page: Page, server: ServerThread
) -> None:
    order_id = api(server, "POST", "/api/orders/execute",
                   json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "3", "slippageBps": 200},
                   )["orderId"]  # fmt: skip
    open_dashboard(page, server, f"#/orders/{order_id}")
    expect(page.locator("#detail h2 [data-status]")).to_have_attribute("data-status", "confirmed")
    order: dict[str, Any] = api(server, "GET", f"/api/orders/{order_id}")
    events = api(server, "GET", f"/api/orders/{order_id}/events")["events"]
    building = next(e for e in events if e["status"] == "building")
    detail = page.locator("#detail")
    expect(detail.get_by_test_id("routing-reason")).to_have_text(building["reason"])
    route = detail.get_by_test_id("route-leg")
    expect(route).to_have_count(len(building["route"]))
    for row, leg in zip(route.all(), building["route"], strict=True):
        cells = row.locator("td").all_inner_texts()
        assert cells[1:] == [leg["venue"], f"{leg['tokenIn']} → {leg['tokenOut']}",
                             leg["amountIn"], leg["amountOut"]]  # fmt: skip
    quotes = detail.get_by_test_id("venue-quote")
    expect(quotes).to_have_count(len(building["quotes"]))
    assert [r.locator("td").first.inner_text() for r in quotes.all()] == [
        q["venue"] for q in building["quotes"]
    ]
    facts = detail.locator("dl").nth(1).inner_text()
    for value in (building["dex"], building["priceImpact"], building["minAmountOut"]):
        assert value in facts
    legs = detail.get_by_test_id("leg")
    expect(legs).to_have_count(len(order["legs"]))
    for row, leg in zip(legs.all(), order["legs"], strict=True):
        cells = row.locator("td").all_inner_texts()
        assert cells[1:4] == [leg["dex"], leg["txHash"], leg["state"]]
        assert cells[7:] == [str(leg["slot"]), str(leg["fee"]), str(leg["computeUnits"])]
    summary = detail.locator("dl").first.inner_text()
    assert order["dex"] in summary
    paid_by = "the engine's wallet" if order["wallet"] == "engine" else order["wallet"]
    assert "Paid by" in summary and paid_by in summary
    expect(detail.locator("ol.timeline li")).to_have_count(len(events))
    expect(detail.locator("ol.timeline")).to_contain_text(
        re.compile(r"\(\+\d+ ms\)|\(\+[\d.]+ s\)")
    )
    page.screenshot(path=screenshot_path("order-page"), full_page=True)

    detail.get_by_role("link", name=order["legs"][0]["txHash"]).click()
    expect(page.locator("#detail")).to_contain_text("landed")
    tx = api(server, "GET", f"/api/chain/tx/{order['legs'][0]['txHash']}")
    expect(page.locator("#detail dl")).to_contain_text(str(tx["slot"]))


def test_cancel_a_waiting_limit_order(page: Page, server: ServerThread) -> None:
    open_dashboard(page, server)
    page.get_by_label("Order type").select_option("limit")
    page.get_by_label("Limit price").fill("100000")  # never met
    page.get_by_role("button", name="Submit order").click()
    order_id = page.locator("#submit-result a").get_attribute("data-order-id")
    assert order_id
    expect(row_status(page, order_id)).to_have_attribute("data-status", "waiting")
    page.get_by_role("button", name=f"cancel order {order_id}").click()
    expect(row_status(page, order_id)).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#notice")).to_contain_text("cancelled")
    assert api(server, "GET", f"/api/orders/{order_id}")["status"] == "cancelled"


def test_the_form_works_from_the_keyboard_and_reads_without_colour(
    page: Page, server: ServerThread
) -> None:
    open_dashboard(page, server)
    order = ["f-type", "f-in", "f-out", "f-amount", "f-slippage", "preview-button"]
    focused: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id"))
        if focused[-1] == "preview-button":
            break
    assert [f for f in focused if f in order] == order, focused
    for field in page.locator("#submit-form").locator("input, select").all():
        if field.is_visible():
            assert field.evaluate("el => el.labels.length") >= 1, field.get_attribute("id")
    page.keyboard.press("Shift+Tab")  # back to the slippage field
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("0.5")  # the amount field, by keyboard only
    page.keyboard.press("Enter")  # submits the form
    order_id = page.locator("#submit-result a").get_attribute("data-order-id", timeout=10_000)
    assert order_id
    expect(row_status(page, order_id)).to_have_attribute("data-status", "confirmed")

    page.evaluate("document.documentElement.style.filter = 'grayscale(1)'")  # no colour
    for cell in page.locator("#orders .status-cell").all():  # a word, not only a colour
        assert (cell.get_attribute("data-status") or "?") in cell.inner_text()
    assert "solid line" in page.locator("#chart-legend").inner_text()
    expect(page.locator("#conn")).to_have_text(re.compile("Live"))
    page.screenshot(path=screenshot_path("dashboard-grayscale"))
