"""Sniper orders over HTTP and WebSocket: three orders wait for a token that does not trade
yet; the admin launch opens its pool and all three fire and confirm. Bad inputs are 4xx."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from order_engine.settings import Settings
from tests.e2e.harness import (
    assert_error,
    assert_lifecycle,
    running_engine,
    statuses,
    stored_orders,
)

D = Decimal
FILLED = ["pending", "waiting", "routing", "building", "submitted", "confirmed"]
_serial = itertools.count(1)
ORDER_ENGINE = Path(sys.executable).parent / "order-engine"


def sniper(symbol: str, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {"tokenIn": "SOL", "tokenOut": symbol, "amountIn": "0.5"}
    return {**body, "type": "sniper", "venue": "raydium", "slippageBps": 500, **extra}


async def test_three_snipers_fire_when_the_pool_opens(tmp_path: Path) -> None:
    symbol = f"SNE{next(_serial)}"
    async with running_engine(tmp_path, limit_check_interval_s=0.05) as eng:
        ids = [await eng.order_id(sniper(symbol)) for _ in range(3)]
        for order_id in ids:
            assert statuses(await eng.stream_until(order_id, "waiting"))[-1] == "waiting"
        quote = await eng.client.get(
            "/api/quote", params={"tokenIn": "SOL", "tokenOut": symbol, "amountIn": "0.5"}
        )
        body = {"symbol": symbol, "venue": "raydium", "price": "0.0005", "decimals": 6}
        launched = await eng.client.post("/api/admin/launch", json=body)
        async with asyncio.timeout(10):
            streams = await asyncio.gather(*(eng.stream(i) for i in ids))
        again = await eng.client.post("/api/admin/launch", json=body)
        listed = (await eng.client.get("/api/admin/launches")).json()["launches"]
    assert_error(quote, 422, code="unknown_token", field="tokenOut")  # not tradable before
    assert launched.status_code == 201, launched.text
    launch = launched.json()
    assert (launch["symbol"], launch["venue"], launch["quote"]) == (symbol, "raydium", "SOL")
    assert len(launch["mint"]) >= 32
    for order_id, events in zip(ids, streams, strict=True):
        assert statuses(events) == FILLED
        assert_lifecycle(events, order_id, "confirmed")
        assert events[1]["token"] == symbol and events[-1]["dex"] == "raydium"
        assert D(events[-1]["amountOut"]) > 0
    routed = sorted(ids, key=lambda i: streams[ids.index(i)][2]["tsMs"])
    assert routed == ids  # fired in submission order
    assert_error(again, 409, code="already_launched")
    assert [item["symbol"] for item in listed] == [symbol]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (sniper("SNBAD", venue="orca"), "venue"),
        (sniper("SNBAD", maxPrice="0"), "maxPrice"),
        (sniper("SNBAD", limitPrice="1"), "limitPrice"),
        (sniper("s"), "tokenOut"),
        (sniper("SOL"), "tokenOut"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "venue": "raydium"}, "venue"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "maxPrice": "2"}, "maxPrice"),
    ],
    ids=[
        "unknown-venue",
        "zero-cap",
        "limit-price",
        "bad-symbol",
        "same-token",
        "market-venue",
        "market-cap",
    ],
)
async def test_bad_sniper_orders_are_rejected(
    tmp_path: Path, body: dict[str, object], field: str
) -> None:
    async with running_engine(tmp_path) as eng:
        response = await eng.client.post("/api/orders/execute", json=body)
        listed = await stored_orders(eng)
    assert_error(response, 422, field=field)
    assert listed == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": "x", "venue": "raydium", "price": "1"}, "symbol"),
        ({"symbol": "SNBAD2", "venue": "orca", "price": "1"}, "venue"),
        ({"symbol": "SNBAD2", "venue": "raydium", "price": "-1"}, "price"),
        ({"symbol": "SNBAD2", "venue": "raydium", "price": "1", "quote": "DOGE"}, "quote"),
        ({"symbol": "SNBAD2", "venue": "raydium", "price": "1", "decimals": 30}, "decimals"),
        ({"symbol": "SNBAD2", "venue": "raydium"}, "price"),
    ],
    ids=["symbol", "venue", "price", "quote", "decimals", "missing-price"],
)
async def test_bad_launches_are_rejected(
    tmp_path: Path, body: dict[str, object], field: str
) -> None:
    async with running_engine(tmp_path) as eng:
        response = await eng.client.post("/api/admin/launch", json=body)
        listed = (await eng.client.get("/api/admin/launches")).json()["launches"]
    assert_error(response, 422, field=field)
    assert listed == []


async def test_the_launch_command_launches_on_a_running_engine(tmp_path: Path) -> None:
    symbol = f"SNC{next(_serial)}"
    command = [str(ORDER_ENGINE), "launch", symbol, "--venue", "meteora", "--price", "0.25"]
    async with running_engine(tmp_path) as eng:
        order_id = await eng.order_id(sniper(symbol, venue="any", tokenIn="USDC", amountIn="10"))
        await eng.stream_until(order_id, "waiting")
        key = ["--api-key", eng.api_key or ""]
        first = await run(*command, "--quote", "USDC", "--url", eng.base_url, *key)
        events = await eng.stream(order_id)
        second = await run(*command, "--url", eng.base_url, *key)
        unreachable = await run(*command, "--url", "http://127.0.0.1:9", *key)
        no_key = await run(*command, "--url", eng.base_url, "--api-key", "oe_bad")
    code, out, err = first
    assert code == 0, err
    launched = json.loads(out)
    assert (launched["symbol"], launched["venue"], launched["quote"]) == (symbol, "meteora", "USDC")
    assert statuses(events) == FILLED and events[-1]["dex"] == "meteora"
    assert second[0] == 1 and "already_launched" in second[2]
    assert unreachable[0] == 1 and "cannot reach" in unreachable[2]
    assert no_key[0] == 1 and "unauthenticated" in no_key[2] and "oe_bad" not in no_key[2]


async def run(*command: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_scheduled_launch_fires_waiting_snipers_by_itself(tmp_path: Path) -> None:
    symbol = f"SNS{next(_serial)}"
    schedule = f"{symbol}:meteora:0.01@1"  # one second after start
    async with running_engine(tmp_path, sim_launches=schedule) as eng:
        order_id = await eng.order_id(sniper(symbol, venue="meteora"))
        async with asyncio.timeout(10):
            events = await eng.stream(order_id)
        launches = (await eng.client.get("/api/admin/launches")).json()["launches"]
    assert statuses(events) == FILLED and events[-1]["dex"] == "meteora"
    assert [(item["symbol"], item["venue"], item["price"]) for item in launches] == [
        (symbol, "meteora", "0.01")
    ]


def test_a_malformed_launch_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="SYMBOL:VENUE:PRICE"):
        Settings(sim_launches="PEPE:raydium@soon", _env_file=None)


async def test_a_sniper_paying_a_token_with_no_direct_pool_routes_through_sol(
    tmp_path: Path,
) -> None:
    """The issue's repro: a sniper pays USDC for a token that launches against SOL. At the
    launch it routes in two hops, USDC -> SOL -> token, each leg with its own minimum and
    the second asking at least the whole route's minimum; so does a market order."""
    symbol = f"SNU{next(_serial)}"
    async with running_engine(tmp_path, limit_check_interval_s=0.05) as eng:
        body = sniper(symbol, venue="any", tokenIn="USDC", amountIn="10")
        order_id = await eng.order_id(body)
        await eng.stream_until(order_id, "waiting")
        launch = {"symbol": symbol, "venue": "raydium", "price": "0.5"}
        assert (await eng.client.post("/api/admin/launch", json=launch)).status_code == 201
        async with asyncio.timeout(10):
            events = await eng.stream(order_id)
            body = {"tokenIn": "USDC", "tokenOut": symbol, "amount": "10", "slippageBps": 500}
            market = await eng.order_id(body)
            market_events = await eng.stream(market)
    assert statuses(events) == FILLED
    for stream in (events, market_events):
        assert_two_hops(stream, "USDC", "SOL", symbol, Decimal(10))
    assert statuses(market_events) == ["pending", "routing", "building", "submitted", "confirmed"]


def assert_two_hops(
    events: list[dict[str, Any]], t_in: str, via: str, t_out: str, amount: Decimal
) -> None:
    """`events` show a route through `via`: the building event plans both hops; the
    confirmed event has the first hop's legs (t_in -> via) and the second's (via -> t_out),
    the second selling exactly what the first delivered, and delivering at least the
    route's minimum."""
    building = next(e for e in events if e["status"] == "building")
    assert building["via"] == via
    hops = [(r["tokenIn"], r["tokenOut"]) for r in building["route"]]
    assert (hops[0], hops[-1]) == ((t_in, via), (via, t_out))
    assert "two hops via" in building["reason"]
    done = events[-1]
    assert done["status"] == "confirmed" and done["partial"] is False
    first = [leg for leg in done["legs"] if leg["hop"] == 1]
    second = [leg for leg in done["legs"] if leg["hop"] == 2]
    assert first and second and len(first) + len(second) == len(done["legs"])
    assert {leg["via"] for leg in done["legs"]} == {via}
    assert all(leg["state"] == "landed" for leg in done["legs"])
    assert sum(D(leg["amountIn"]) for leg in first) == amount
    assert sum(D(leg["amountIn"]) for leg in second) == sum(D(leg["amountOut"]) for leg in first)
    assert all(D(leg["amountOut"]) >= D(leg["minAmountOut"]) for leg in done["legs"])
    assert D(done["amountOut"]) == sum(D(leg["amountOut"]) for leg in second)
    assert D(done["amountOut"]) >= D(done["minAmountOut"])  # the executed legs' floors
    assert D(done["filledAmountIn"]) == amount and "held" not in done


async def test_a_sniper_whose_venue_has_no_path_fails_at_once(tmp_path: Path) -> None:
    """No pool on the sniper's venue trades its token, directly or through SOL or USDC: it
    fails with `no_route` at the launch instead of waiting forever."""
    symbol = f"SNV{next(_serial)}"
    async with running_engine(tmp_path, limit_check_interval_s=0.05) as eng:
        order_id = await eng.order_id(
            sniper(symbol, venue="meteora", tokenIn="USDC", amountIn="10")
        )
        await eng.stream_until(order_id, "waiting")
        launch = {"symbol": symbol, "venue": "raydium", "price": "0.5"}
        assert (await eng.client.post("/api/admin/launch", json=launch)).status_code == 201
        async with asyncio.timeout(10):
            events = await eng.stream(order_id)
    assert statuses(events) == ["pending", "waiting", "failed"]
    assert events[-1]["error"]["code"] == "no_route"
