"""The read side over real HTTP: listing and pagination, event history as JSON and
Server-Sent Events, quotes, and the operational endpoints."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from order_engine.venues.sim.ledger import InMemorySwapLedger
from tests.e2e.harness import (
    RunningEngine,
    assert_lifecycle,
    running_engine,
    stored_orders,
)


async def walk_pages(eng: RunningEngine, limit: int, **params: str) -> list[list[str]]:
    """Order ids page by page, following nextCursor until it is null."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(20):
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        response = await eng.client.get("/api/orders", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        pages.append([o["orderId"] for o in body["items"]])
        cursor = body["nextCursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and cursor
    raise AssertionError("nextCursor never ran out")


async def test_list_pages_newest_first_without_gaps_and_filters(tmp_path: Path) -> None:
    hold = {"rate_limit_max": 7, "rate_limit_window_s": 60}  # orders 8 and 9 stay pending
    async with running_engine(tmp_path, **hold) as eng:
        ids = [await eng.order_id() for _ in range(9)]
        for order_id in ids[:7]:
            assert_lifecycle(await eng.stream(order_id), order_id, "confirmed")
        cancel = await eng.client.post(f"/api/orders/{ids[8]}/cancel", json={})
        assert cancel.status_code == 200, cancel.text
        everything = await stored_orders(eng)
        pages = await walk_pages(eng, 3)
        by_status = {s: await walk_pages(eng, 3, status=s) for s in ("confirmed", "pending")}
        cancelled = await stored_orders(eng, status="cancelled")
        failed = await stored_orders(eng, status="failed")
    walked = [i for page in pages for i in page]
    assert [len(p) for p in pages if p] == [3, 3, 3]
    assert walked == [o["orderId"] for o in everything], "pages must match one full listing"
    assert sorted(walked) == sorted(ids), "no duplicates, no gaps"
    created = [o["createdAt"] for o in everything]
    assert created == sorted(created, reverse=True), "newest first"
    if len(set(created)) == len(created):
        assert walked == ids[::-1]
    assert sorted(i for p in by_status["confirmed"] for i in p) == sorted(ids[:7])
    assert [i for p in by_status["pending"] for i in p] == [ids[7]]
    assert [o["orderId"] for o in cancelled] == [ids[8]]
    assert failed == []


def parse_sse(body: str) -> list[dict[str, str]]:
    frames = []
    for block in body.split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            frames.append(fields)
    return frames


async def sse(eng: RunningEngine, order_id: str, query: str = "", **headers: str) -> str:
    url = f"/api/orders/{order_id}/events{query}"
    headers = {"Accept": "text/event-stream", **headers}
    async with asyncio.timeout(5), eng.client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return (await response.aread()).decode()


def assert_sse_matches(body: str, events: list[dict[str, Any]]) -> None:
    frames = parse_sse(body)
    assert set().union(*(f.keys() for f in frames)) <= {"id", "event", "data"}
    assert [int(f["id"]) for f in frames] == [e["seq"] for e in events]
    assert [f["event"] for f in frames] == [e["status"] for e in events]
    assert [orjson.loads(f["data"]) for f in frames] == events


async def test_event_history_as_json_and_sse_equals_the_websocket(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        order_id = await eng.order_id()
        live_sse = asyncio.create_task(sse(eng, order_id))  # subscribes while it runs
        streamed = await eng.stream(order_id)
        assert_lifecycle(streamed, order_id, "confirmed")
        history = (await eng.client.get(f"/api/orders/{order_id}/events")).json()
        assert history == {"orderId": order_id, "events": streamed}
        later = (await eng.client.get(f"/api/orders/{order_id}/events?after=2")).json()
        assert later["events"] == streamed[2:]
        assert_sse_matches(await live_sse, streamed)
        assert_sse_matches(await sse(eng, order_id), streamed)
        assert_sse_matches(await sse(eng, order_id, "?after=2"), streamed[2:])
        assert_sse_matches(await sse(eng, order_id, **{"Last-Event-ID": "3"}), streamed[3:])
        assert await eng.stream(order_id, after=2) == streamed[2:]


async def test_quote_compares_every_venue_without_executing(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        response = await eng.client.get(
            "/api/quote", params={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert await stored_orders(eng) == []
        chain = eng.engine.adapters.chain
        assert isinstance(chain, InMemorySwapLedger) and chain.landed_count == 0
    assert (body["tokenIn"], body["tokenOut"], body["amountIn"]) == ("SOL", "USDC", "2")
    quotes = {q["venue"]: q for q in body["quotes"]}
    assert set(quotes) == {"raydium", "meteora"}
    assert all(Decimal(q["amountOut"]) > 0 for q in quotes.values())
    best = max(quotes.values(), key=lambda q: Decimal(q["amountOut"]))
    assert body["dex"] == best["venue"]
    assert body["dex"] in body["reason"] and best["amountOut"] in body["reason"]
    assert body["unavailable"] == {}


def statement_count(metrics: str) -> float:
    """`db_statements_total`: the SQL statements the engine sent (benchmarks use it)."""
    found = re.search(r"^db_statements_total (\S+)$", metrics, re.M)
    assert found is not None, "db_statements_total missing"
    return float(found.group(1))


async def test_health_ready_metrics_and_docs(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        health = await eng.client.get("/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = await eng.client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {
            "database": "ok",
            "queue": "ok",
            "events": "ok",
            "workers": "ok",
        }
        ids = await asyncio.gather(*(eng.order_id() for _ in range(3)))
        for order_id in ids:
            assert_lifecycle(await eng.stream(order_id), order_id, "confirmed")
        metrics = await eng.client.get("/metrics")
        assert_lifecycle(await eng.stream(order_id := await eng.order_id()), order_id, "confirmed")
        later = await eng.client.get("/metrics")
        docs = await eng.client.get("/docs")
        openapi = (await eng.client.get("/openapi.json")).json()
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    counted = re.findall(r'^order_events_total\{status="(\w+)"\} (\S+)$', metrics.text, re.M)
    counts = {status: float(value) for status, value in counted}
    assert counts["confirmed"] == 3 and counts["pending"] == 3 and counts["failed"] == 0
    assert statement_count(metrics.text) < statement_count(later.text)  # the 4th order's
    assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    post = openapi["paths"]["/api/orders/execute"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    kinds = [ref["$ref"].rsplit("/", 1)[1] for ref in schema["anyOf"]]
    assert kinds == ["MarketOrderBody", "LimitOrderBody", "SniperOrderBody"]
    for kind in kinds:  # one schema per order type, each with the common fields
        body = openapi["components"]["schemas"][kind]
        assert {"tokenIn", "tokenOut", "amountIn", "slippageBps"} <= set(body["properties"])
        assert {"tokenIn", "tokenOut"} <= set(body["required"])
    assert "limitPrice" in openapi["components"]["schemas"]["LimitOrderBody"]["required"]
    assert "/api/orders/{order_id}/events" in openapi["paths"]
