"""The full lifecycle over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import orjson
from websockets.asyncio.client import connect

from order_engine.domain.event_payloads import Cancelled
from tests.e2e.harness import (
    DEFAULT_ORDER,
    HAPPY,
    assert_lifecycle,
    running_engine,
    statuses,
)


async def test_market_order_confirms_and_streams_every_status(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        response = await eng.submit({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"})
        assert response.status_code == 201
        body = response.json()
        assert body["status"] == "pending"
        order_id = body["orderId"]
        assert response.headers["location"] == f"/api/orders/{order_id}"
        stream = f"{eng.ws_base}/api/orders/execute?orderId={order_id}&token="
        assert body["wsUrl"].startswith(stream) and body["websocketUrl"] == body["wsUrl"]
        async with connect(body["wsUrl"]) as ws:  # no key: the wsUrl's token opens it
            events = [orjson.loads(message) async for message in ws]
            assert ws.close_code == 1000, ws.close_reason
        assert statuses(events) == HAPPY
        assert_lifecycle(events, order_id, "confirmed")
        confirmed = events[-1]
        assert confirmed["dex"] in {"raydium", "meteora"}
        assert 87 <= len(confirmed["txHash"]) <= 88
        amount_out = Decimal(confirmed["amountOut"])
        assert Decimal(confirmed["executedPrice"]) > 0
        assert events[2]["quotes"] and events[2]["reason"]
        assert amount_out >= Decimal(events[2]["minAmountOut"])
        order = (await eng.client.get(f"/api/orders/{order_id}")).json()
        assert order["status"] == "confirmed"
        assert order["amountOut"] == confirmed["amountOut"]
        assert order["txHash"] == confirmed["txHash"]


async def test_late_subscriber_gets_full_replay(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        order_id = await eng.order_id()
        live = await eng.stream(order_id)
        late = await eng.stream(order_id)  # subscribes after the order finished
        assert late == live
        assert_lifecycle(late, order_id, "confirmed")


async def test_after_resumes_without_duplicates(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        order_id = await eng.order_id()
        full = await eng.stream(order_id)
        for after in range(len(full)):
            assert await eng.stream(order_id, after=after) == full[after:]


async def test_twenty_concurrent_orders_all_confirm(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        ids = await asyncio.gather(*(eng.order_id() for _ in range(20)))
        streams = await asyncio.gather(*(eng.stream(i) for i in ids))
        assert len(set(ids)) == 20
        for order_id, events in zip(ids, streams, strict=True):
            assert statuses(events) == HAPPY
            assert_lifecycle(events, order_id, "confirmed")
        executions = sum([len(await eng.engine.executions(i)) for i in ids])
        assert executions == 20


async def test_an_event_whose_publish_was_lost_still_reaches_an_open_websocket(
    tmp_path: Path,
) -> None:
    """The stream waits on the bus with no timeout; the stream watch finds the event the
    bus never carried (committed, then its publish lost) and the stream reads the store."""
    never_fills = {**DEFAULT_ORDER, "type": "limit", "limitPrice": "1000000"}
    async with running_engine(tmp_path, stream_check_interval_s=0.05) as eng:
        order_id = await eng.order_id(never_fills)
        url = f"{eng.ws_base}/api/orders/execute?orderId={order_id}"
        async with connect(url, additional_headers=eng.auth) as ws:
            events: list[dict[str, object]] = []
            while not events or events[-1]["status"] != "waiting":
                events.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
            store = eng.engine.store
            order = await store.get(order_id)
            cancelled = order.apply(Cancelled(actor=None), ts_ms=order.updated_ms + 1)
            await store.append(order, cancelled)  # committed, never published
            async with asyncio.timeout(5):
                events += [orjson.loads(message) async for message in ws]
            assert ws.close_code == 1000, ws.close_reason
        assert statuses(events) == ["pending", "waiting", "cancelled"]
        assert [e["seq"] for e in events] == [1, 2, 3]
