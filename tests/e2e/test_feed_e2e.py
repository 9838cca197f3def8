"""The live feed of the caller's orders over real HTTP and WebSocket: the feed token, every
event of the caller's orders (an admin's: everyone's) with the order's summary, resume after
a feed id, the close codes, and the queue panel's numbers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from order_engine.adapters.clock import SystemClock
from order_engine.domain.accounts import Scope
from order_engine.engine.accounts import AccountAdmin
from tests.e2e.harness import HAPPY, RunningEngine, assert_error, running_engine

FEED = "/api/events/stream"


@pytest.fixture
async def eng(tmp_path: Path) -> AsyncIterator[RunningEngine]:
    async with running_engine(tmp_path) as running:
        yield running


async def feed_url(eng: RunningEngine, key: str | None = None, **params: str) -> str:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    answer = await eng.client.post("/api/events/token", headers=headers)
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["url"]
    return url + "".join(f"&{k}={v}" for k, v in params.items())


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(10):
        message: dict[str, Any] = orjson.loads(await ws.recv())
    return message


async def events_until(ws: ClientConnection, order_id: str, status: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while (
        not got or got[-1]["event"]["status"] != status or got[-1]["order"]["orderId"] != (order_id)
    ):
        message = await receive(ws)
        assert message["type"] == "event"
        if message["order"]["orderId"] == order_id:
            got.append(message)
    return got


async def test_the_feed_streams_every_event_of_the_callers_orders(eng: RunningEngine) -> None:
    token = (await eng.client.post("/api/events/token")).json()
    assert token["admin"] is True and token["scope"] == "admin"
    assert token["url"].startswith(f"{eng.ws_base}{FEED}?token=")
    async with connect(token["url"]) as ws:
        hello = await receive(ws)
        assert hello == {
            "type": "hello", "gap": False, "accountId": token["accountId"], "admin": True,
            "scope": "admin",
        }  # fmt: skip
        order_id = await eng.order_id()
        got = await events_until(ws, order_id, "confirmed")
    assert [m["event"]["status"] for m in got] == HAPPY
    assert [m["event"]["seq"] for m in got] == [1, 2, 3, 4, 5]
    ids = [tuple(int(x) for x in m["id"].split("-")) for m in got]
    assert ids == sorted(ids)
    summary = got[0]["order"]
    assert summary["type"] == "market" and summary["tokenIn"] == "SOL"
    assert summary["amountIn"] == "1.5" and summary["accountId"] == token["accountId"]
    order = (await eng.client.get(f"/api/orders/{order_id}")).json()
    assert got[-1]["event"]["txHash"] == order["txHash"]


async def test_an_account_sees_its_own_orders_and_an_admin_everyones(eng: RunningEngine) -> None:
    admin = AccountAdmin(eng.engine.adapters.accounts, SystemClock())
    keys = {}
    for name in ("alice", "bob"):
        await admin.create_account(name)
        keys[name] = (await admin.create_key(name, Scope.TRADE))[1].reveal()
    async with (
        connect(await feed_url(eng, keys["alice"])) as alice,
        connect(await feed_url(eng)) as everyone,
    ):
        assert (await receive(alice))["admin"] is False
        await receive(everyone)
        bobs = await eng.client.post(
            "/api/orders/execute",
            json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"},
            headers={"Authorization": f"Bearer {keys['bob']}"},
        )
        alices = await eng.client.post(
            "/api/orders/execute",
            json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"},
            headers={"Authorization": f"Bearer {keys['alice']}"},
        )
        alice_id, bob_id = alices.json()["orderId"], bobs.json()["orderId"]
        seen_by_alice = await events_until(alice, alice_id, "confirmed")
        await events_until(everyone, bob_id, "confirmed")  # the admin sees bob's
        await events_until(everyone, alice_id, "confirmed")  # and alice's
    assert {m["order"]["orderId"] for m in seen_by_alice} == {alice_id}


async def test_the_feed_resumes_after_an_id(eng: RunningEngine) -> None:
    url = await feed_url(eng)
    async with connect(url) as ws:
        await receive(ws)
        order_id = await eng.order_id()
        first = await events_until(ws, order_id, "confirmed")
    async with connect(f"{url}&after={first[1]['id']}") as ws:
        assert (await receive(ws))["gap"] is False
        replayed = [await receive(ws) for _ in range(3)]
    assert [m["id"] for m in replayed] == [m["id"] for m in first[2:]]
    async with connect(f"{url}&after=1-0") as ws:  # from before this server started
        assert (await receive(ws))["gap"] is True


async def test_the_feed_opens_with_a_key_header(eng: RunningEngine) -> None:
    async with connect(f"{eng.ws_base}{FEED}", additional_headers=eng.auth) as ws:
        assert (await receive(ws))["type"] == "hello"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", 4401),  # no key, no token
        ("?token=123.x.y.read.0.forged", 4401),
        ("?token=nonsense", 4401),
    ],
)
async def test_the_feed_refuses_without_a_valid_token(
    eng: RunningEngine, query: str, code: int
) -> None:
    async with connect(f"{eng.ws_base}{FEED}{query}") as ws:
        with pytest.raises(ConnectionClosed):
            await receive(ws)
    assert ws.close_code == code


async def test_an_order_token_does_not_open_the_feed(eng: RunningEngine) -> None:
    order_token = (await eng.submit()).json()["wsUrl"].split("token=")[1]
    async with connect(f"{eng.ws_base}{FEED}?token={order_token}") as ws:
        with pytest.raises(ConnectionClosed):
            await receive(ws)
    assert ws.close_code == 4401


async def test_a_malformed_after_closes_4400(eng: RunningEngine) -> None:
    async with connect(await feed_url(eng, after="yesterday")) as ws:
        with pytest.raises(ConnectionClosed):
            await receive(ws)
    assert ws.close_code == 4400


async def test_a_plain_get_of_the_feed_is_426_and_the_token_needs_a_key(
    eng: RunningEngine,
) -> None:
    assert_error(await eng.client.get(FEED), 426, code="upgrade_required")
    answer = await eng.client.post("/api/events/token", headers={"Authorization": ""})
    assert_error(answer, 401)


async def test_the_queue_panel_counts_what_the_feed_showed(eng: RunningEngine) -> None:
    async with connect(await feed_url(eng)) as ws:
        await receive(ws)
        order_id = await eng.order_id()
        await events_until(ws, order_id, "confirmed")
    queue = (await eng.client.get("/api/queue")).json()
    assert queue["workers"] == 1 and queue["depth"] == 0 and queue["inFlight"] == 0
    assert queue["finishedLastMinute"] >= 1 and queue["concurrency"] == 10
    assert queue["rateLimit"]["startedInWindow"] >= 1
    assert queue["rateLimit"]["limited"] is False
