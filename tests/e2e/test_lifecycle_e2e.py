"""The full lifecycle over real HTTP and WebSocket."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from order_engine.domain.event_payloads import Cancelled
from tests.e2e.harness import (
    DEFAULT_ORDER,
    HAPPY,
    assert_lifecycle,
    running_engine,
    statuses,
)

NEVER_FILLS = {**DEFAULT_ORDER, "type": "limit", "limitPrice": "1000000"}


async def until_waiting(ws: ClientConnection) -> list[dict[str, object]]:
    """A limit order's stream read up to its `waiting` event."""
    events: list[dict[str, object]] = []
    while not events or events[-1]["status"] != "waiting":
        events.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
    return events


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
    async with running_engine(tmp_path, stream_check_interval_s=0.05) as eng:
        order_id = await eng.order_id(NEVER_FILLS)
        url = f"{eng.ws_base}/api/orders/execute?orderId={order_id}"
        async with connect(url, additional_headers=eng.auth) as ws:
            events = await until_waiting(ws)
            store = eng.engine.store
            order = await store.get(order_id)
            cancelled = order.apply(Cancelled(actor=None), ts_ms=order.updated_ms + 1)
            await store.append(order, cancelled)  # committed, never published
            async with asyncio.timeout(5):
                events += [orjson.loads(message) async for message in ws]
            assert ws.close_code == 1000, ws.close_reason
        assert statuses(events) == ["pending", "waiting", "cancelled"]
        assert [e["seq"] for e in events] == [1, 2, 3]


@pytest.mark.parametrize(
    "protocols",
    [None, {"ws": "websockets-sansio"}],
    ids=["our-protocol", "uvicorn-protocol"],
)
async def test_a_client_that_hangs_up_leaves_no_stream_open(
    tmp_path: Path, protocols: dict[str, str] | None
) -> None:
    """Ours tells the stream that the client went away (no task reads for it; what the
    client sends meanwhile is dropped and the server goes on reading: its pongs); under
    uvicorn's own protocol a second task reads until the disconnect."""
    async with running_engine(tmp_path, protocols=protocols) as eng:
        watch = eng.engine.service.stream_watch
        order_id = await eng.order_id(NEVER_FILLS)
        url = f"{eng.ws_base}/api/orders/execute?orderId={order_id}"
        async with connect(url, additional_headers=eng.auth) as ws:
            events = await until_waiting(ws)
            for n in range(50):
                await ws.send(f"nobody reads this {n}")
            await asyncio.wait_for(await ws.ping(), 5)
            assert len(watch) == 1
        async with asyncio.timeout(5):
            while len(watch):  # noqa: ASYNC110 -- polled: the watch has no event to wait on
                await asyncio.sleep(0.01)
        assert statuses(events) == ["pending", "waiting"]


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked frame from the server: (opcode, payload)."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length >= 126:
        length = int.from_bytes(await reader.readexactly(2 if length == 126 else 8), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


async def test_keepalive_pings_an_open_stream_and_closes_it_when_unanswered(
    tmp_path: Path,
) -> None:
    """Every open socket's keepalive (one timer per event loop for all of them): a client
    that answers the pings keeps its stream; one that does not is closed with 1011."""
    keepalive = {"ws_ping_interval_s": 0.2, "ws_ping_timeout_s": 0.3}
    async with running_engine(tmp_path, **keepalive) as eng:
        answering, silent = await eng.order_id(NEVER_FILLS), await eng.order_id(NEVER_FILLS)
        url = f"{eng.ws_base}/api/orders/execute?orderId={answering}"
        async with connect(url, additional_headers=eng.auth, ping_interval=None) as ws:
            reader, writer = await asyncio.open_connection("127.0.0.1", eng.engine.settings.port)
            writer.write(
                f"GET /api/orders/execute?orderId={silent} HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {eng.api_key}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
            opcodes: list[int] = []
            async with asyncio.timeout(5):
                while not opcodes or opcodes[-1] != 8:
                    opcode, payload = await _read_frame(reader)
                    opcodes.append(opcode)
            assert 9 in opcodes, opcodes  # pinged, never answered
            assert int.from_bytes(payload[:2], "big") == 1011
            writer.close()
            await asyncio.sleep(1)  # five intervals: the answering client is still served
            response = await eng.client.post(f"/api/orders/{answering}/cancel", json={})
            assert response.status_code == 200, response.text
            events = [orjson.loads(message) async for message in ws]
            assert ws.close_code == 1000, ws.close_reason
        assert statuses(events) == ["pending", "waiting", "cancelled"]
