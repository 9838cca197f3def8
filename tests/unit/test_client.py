"""The client's stream (reconnects after a drop, each event once, close codes as one line)
and its lifecycle lines (split routes, sniper prices, partial fills), against a stand-in
WebSocket server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from order_engine.client.connection import ClientError, EngineClient, stream_token
from order_engine.client.progress import Progress, Terms

ORDER = "6ff741b4-0000-4000-8000-000000000001"


def event(seq: int, status: str, **fields: Any) -> dict[str, Any]:
    return {"orderId": ORDER, "seq": seq, "status": status, "tsMs": 1000 + seq * 5, **fields}


@contextmanager
def stream_server(handler: Callable[[ServerConnection], None]) -> Iterator[str]:
    """A WebSocket server on a free port running `handler` per connection; its base URL."""
    server: Server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.shutdown()
        thread.join(5)


def test_a_dropped_stream_is_opened_again_after_the_last_event_seen() -> None:
    paths: list[str] = []

    def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        paths.append(ws.request.path)
        if len(paths) == 1:
            ws.send(json.dumps(event(1, "pending")))
            ws.send(json.dumps(event(2, "routing")))
            ws.close(1013, "the event bus is down")
            return
        for seq, status in [(2, "routing"), (3, "building"), (4, "submitted")]:
            ws.send(json.dumps(event(seq, status)))  # seq 2 again: a replay
        ws.send(json.dumps(event(5, "confirmed")))
        ws.recv()  # the client hangs up after the terminal event

    with stream_server(handler) as base:
        client = EngineClient(base, "oe_test_key")
        got = [e for e in client.follow(ORDER) if e is not None]
        client.close()
    assert [e["seq"] for e in got] == [1, 2, 3, 4, 5]
    assert paths == [
        f"/api/orders/execute?orderId={ORDER}",
        f"/api/orders/execute?orderId={ORDER}&after=2",
    ]


@pytest.mark.parametrize(
    ("code", "reason", "line"),
    [
        (4404, "no such order", "order_not_found: no such order"),
        (4401, "the stream token expired", "unauthenticated: the stream token expired"),
        (1000, "", "the stream ended before the order finished"),
    ],
)
def test_a_stream_that_ends_early_is_one_line(code: int, reason: str, line: str) -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send(json.dumps(event(1, "pending")))
        ws.close(code, reason)

    with stream_server(handler) as base:
        client = EngineClient(base, "oe_test_key")
        with pytest.raises(ClientError) as raised:
            list(client.follow(ORDER))
        client.close()
    assert str(raised.value) == line


def test_without_a_key_the_stream_opens_with_the_submit_token() -> None:
    paths: list[str] = []

    def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        paths.append(ws.request.path)
        ws.send(json.dumps(event(1, "cancelled", reason="cancelled by user")))
        ws.recv()

    ws_url = f"ws://elsewhere/api/orders/execute?orderId={ORDER}&token=123.abc"
    with stream_server(handler) as base:
        client = EngineClient(base)
        client.headers = {}  # open mode: no key at all
        statuses = [e["status"] for e in client.follow(ORDER, stream_token(ws_url)) if e]
        client.close()
    assert statuses == ["cancelled"]
    assert paths == [f"/api/orders/execute?orderId={ORDER}&token=123.abc"]


def test_a_split_route_and_its_transactions_each_get_a_line() -> None:
    progress = Progress(Terms("market", "SOL", "USDC", "20000"))
    route = [
        {"venue": "raydium", "tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "9000",
         "amountOut": "800000"},
        {"venue": "meteora", "tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "11000",
         "amountOut": "1500000"},
    ]  # fmt: skip
    building = event(3, "building", dex="raydium+meteora", amountOut="2300000",
                     minAmountOut="2288500.000", priceImpact="0.2", reason="split pays",
                     route=route, attempt=1)  # fmt: skip
    legs = [{"dex": "raydium", "txHash": "SigA"}, {"dex": "meteora", "txHash": "SigB"}]
    submitted = event(4, "submitted", dex="raydium+meteora", txHash="SigA", legs=legs)
    progress.step(event(1, "pending"))
    lines = [str(t) for t in progress.step(building) + progress.step(submitted)]
    assert lines[0].split()[:2] == ["building", "+10"]
    assert lines[0].split()[5:] == [
        "raydium+meteora:", "2300000", "USDC", "quoted,", "min", "2288500,", "price", "impact",
        "20%",
    ]  # fmt: skip
    assert lines[1].strip() == "split pays"
    assert lines[2].strip() == (
        "route: raydium 9000 SOL -> 800000 USDC; meteora 11000 SOL -> 1500000 USDC"
    )
    assert lines[3].split()[5:] == ["2", "transactions"]
    assert [line.strip() for line in lines[4:]] == ["tx SigA (raydium)", "tx SigB (meteora)"]


def test_a_sniper_fill_is_priced_in_token_in_per_token_out_and_partial_says_so() -> None:
    progress = Progress(Terms("sniper", "SOL", "PEPE", "0.5"))
    waiting = event(2, "waiting", token="PEPE", venue="raydium", maxPrice="0.0006000",
                    bestPrice=None, expiresAtMs=None, checkEveryS=2)  # fmt: skip
    legs = [{"dex": "raydium", "txHash": "Sig", "slot": 12, "fee": 5000}]
    confirmed = event(5, "confirmed", dex="raydium", txHash="Sig", amountOut="900",
                      executedPrice="0.00050000", filledAmountIn="0.45", partial=True,
                      unfilledAmountIn="0.05", legs=legs)  # fmt: skip
    progress.step(event(1, "pending"))
    (wait_line,) = progress.step(waiting)
    progress.step(confirmed)
    fill, tx = (str(t) for t in progress.outcome(confirmed))
    assert str(wait_line).split()[5:] == ["for", "PEPE", "on", "raydium,", "max", "0.0006",
                                          "SOL/PEPE"]  # fmt: skip
    assert fill == (
        "filled 0.45 SOL -> 900 PEPE at 0.0005 SOL/PEPE on raydium in 20 ms "
        "(partial: 0.05 SOL not filled)"
    )
    assert tx == "tx Sig (raydium, slot 12, fee 5000 lamports)"
