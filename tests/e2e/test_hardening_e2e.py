"""Inputs that must never give a 5xx or a wrong result (issue 11, first section): each test
here failed on the code before the fix."""

from __future__ import annotations

import asyncio
import base64
import gzip
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import (
    RunningEngine,
    assert_error,
    running_engine,
    statuses,
    stored_orders,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

GOOD: dict[str, Any] = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
EXPONENT = re.compile(r"^[+-]?\d*\.?\d*[eE][+-]?\d+$")
PYDANTIC_WORDS = ("Input should", "Value error", "Field required", "valid integer", "pydantic")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def eng(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningEngine]:
    # orders of millions of USD move the price past the guard: no per-account size limit here
    path = tmp_path_factory.mktemp("hardening")
    async with running_engine(path, account_max_order_usd=0) as running:
        yield running


def with_(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


async def post_raw(eng: RunningEngine, body: bytes, **headers: str) -> Any:
    return await eng.client.post(
        "/api/orders/execute", content=body, headers={"Content-Type": "application/json", **headers}
    )


def assert_our_words(error: dict[str, Any]) -> None:
    assert not any(word in error["message"] for word in PYDANTIC_WORDS), error


def no_exponent_anywhere(value: Any) -> None:
    """No string in `value` (recursively) is a number in exponent form."""
    if isinstance(value, dict):
        for item in value.values():
            no_exponent_anywhere(item)
    elif isinstance(value, list):
        for item in value:
            no_exponent_anywhere(item)
    elif isinstance(value, str):
        assert not EXPONENT.match(value), value


# -- amounts: plain decimals only --------------------------------------------------------

NOT_PLAIN = ["1e-9999999", "1E-9", "1e2", " 1.5", "1.5 ", "1_000", "１", "١", "+1", "1.", ".5"]


@pytest.mark.parametrize("text", NOT_PLAIN)
@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("amountIn", {}),
        ("amount", {}),
        ("limitPrice", {"type": "limit"}),
        ("maxPrice", {"type": "sniper", "tokenOut": "NEWCOIN"}),
    ],
)
async def test_an_amount_that_is_not_a_plain_decimal_is_refused_naming_the_field_sent(
    eng: RunningEngine, text: str, field: str, extra: dict[str, Any]
) -> None:
    body = {k: v for k, v in {**GOOD, **extra}.items() if k != "amountIn"}
    body["amountIn" if field in ("limitPrice", "maxPrice") else field] = "1"
    body[field] = text
    error = assert_error(await eng.submit(body), 422, field=field)
    assert_our_words(error)


async def test_a_json_number_with_a_huge_exponent_is_refused(eng: RunningEngine) -> None:
    raw = b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": 1e-9999999}'
    assert_error(await post_raw(eng, raw), 422, field="amountIn")
    raw = b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "type": "limit", '
    assert_error(await post_raw(eng, raw + b'"limitPrice": 1e-9999999}'), 422, field="limitPrice")


@pytest.mark.parametrize("text", ["1e-9999999", "1E-7", "1_0", "１", " 1"])
async def test_quote_refuses_an_amount_that_is_not_a_plain_decimal(
    eng: RunningEngine, text: str
) -> None:
    params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": text}
    assert_error(await eng.client.get("/api/quote", params=params), 422, field="amountIn")


@pytest.mark.parametrize("text", ["５０", "٥", "²", "1_0", " 5"])
async def test_quote_refuses_a_slippage_that_is_not_ascii_digits(
    eng: RunningEngine, text: str
) -> None:
    params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "slippageBps": text}
    assert_error(await eng.client.get("/api/quote", params=params), 422, field="slippageBps")


async def test_money_is_never_echoed_in_exponent_form(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as other:
        params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.0000001"}
        quote = await other.client.get("/api/quote", params=params)
        order_id = await other.order_id(with_(amountIn="0.0000001", slippageBps=5000))
        events = await other.stream(order_id)
        order = (await other.client.get(f"/api/orders/{order_id}")).json()
    assert quote.status_code == 200, quote.text
    assert quote.json()["amountIn"] == "0.0000001"
    assert order["amountIn"] == "0.0000001"
    no_exponent_anywhere(quote.json())
    no_exponent_anywhere(order)
    no_exponent_anywhere(events)


# -- out-of-range numbers in queries -----------------------------------------------------


def cursor_of(created_ms: int) -> str:
    raw = f"{created_ms}:{uuid.uuid4()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("created_ms", [2**63, 2**64, 10**30])
async def test_a_cursor_out_of_range_is_422(eng: RunningEngine, created_ms: int) -> None:
    response = await eng.client.get("/api/orders", params={"cursor": cursor_of(created_ms)})
    assert_error(response, 422, field="cursor")


@pytest.mark.parametrize("after", [str(2**31), str(2**63), str(10**30), "٣", "²"])
async def test_after_out_of_range_is_4xx_on_events_sse_and_websocket(
    eng: RunningEngine, after: str
) -> None:
    order_id = await eng.order_id(with_(slippageBps=500))
    path = f"/api/orders/{order_id}/events"
    assert_error(await eng.client.get(path, params={"after": after}), 422, field="after")
    sse = await eng.client.get(
        path, params={"after": after}, headers={"Accept": "text/event-stream"}
    )
    assert_error(sse, 422, field="after")
    sse = await eng.client.get(
        path, headers={b"Accept": b"text/event-stream", b"Last-Event-ID": after.encode()}
    )
    assert_error(sse, 422, field="Last-Event-ID")
    url = f"{eng.ws_base}/api/orders/execute?orderId={order_id}&after={after}"
    async with connect(url) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 4400, (ws.close_code, ws.close_reason)
    assert "after" in (ws.close_reason or "")


# -- launches apply whole or are refused -------------------------------------------------


@pytest.mark.parametrize("venues", ["sim", "chain"])
@pytest.mark.parametrize(
    ("symbol", "changes", "field"),
    [
        ("TINYP", {"price": "0.000000000001"}, "price"),
        ("TINYD", {"depthUsd": "0.000000001"}, "depthUsd"),
        ("HUGEP", {"price": "1000000000000", "decimals": 0, "depthUsd": "1000"}, None),
    ],
)
async def test_a_launch_that_cannot_open_its_pool_is_refused_and_leaves_nothing(
    tmp_path: Path, venues: str, symbol: str, changes: dict[str, Any], field: str | None
) -> None:
    body = {"symbol": symbol, "venue": "raydium", "price": "0.0005", **changes}
    async with running_engine(tmp_path, venues=venues) as other:
        launched = await other.client.post("/api/admin/launch", json=body)
        params = {"tokenIn": "SOL", "tokenOut": symbol, "amountIn": "1"}
        quote = await other.client.get("/api/quote", params=params)
        listed = (await other.client.get("/api/admin/launches")).json()["launches"]
        again = await other.client.post("/api/admin/launch", json={**body, **GOOD_LAUNCH})
    if launched.status_code == 201:  # applied whole: it trades
        assert quote.status_code == 200, quote.text
        assert [item["symbol"] for item in listed] == [symbol]
        return
    assert_error(launched, 422, field=field)
    assert_error(quote, 422, code="unknown_token", field="tokenOut")
    assert listed == []
    assert again.status_code == 201, again.text  # a sane launch of the symbol still works


GOOD_LAUNCH = {"price": "0.0005", "depthUsd": "200000", "decimals": 6}


# -- deterministic failures are not retried ----------------------------------------------


async def test_a_dust_order_is_refused_or_fails_at_once(eng: RunningEngine) -> None:
    response = await eng.submit(with_(amountIn="0.000000001"))
    if response.status_code == 422:
        assert response.json()["error"]["field"] == "amountIn"
        return
    assert response.status_code == 201, response.text
    events = await eng.stream(response.json()["orderId"])
    assert statuses(events) == ["pending", "routing", "failed"]
    assert events[-1]["attempt"] == 1 and len(events[-1]["attempts"]) == 1
    assert events[-1]["error"]["code"] == "no_route"


# -- the price-impact guard --------------------------------------------------------------


async def test_a_market_order_moving_the_price_too_far_fails_at_once(eng: RunningEngine) -> None:
    order_id = await eng.order_id(with_(amountIn="50000"))
    events = await eng.stream(order_id)
    assert statuses(events) == ["pending", "routing", "failed"]
    error = events[-1]["error"]
    assert error["code"] == "price_impact_too_high", error
    assert "maxPriceImpactBps" in error["message"]
    assert events[-1]["attempt"] == 1


async def test_the_guard_can_be_raised_per_order_up_to_the_cap(eng: RunningEngine) -> None:
    params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "20000"}
    quote = (await eng.client.get("/api/quote", params=params)).json()
    impact_bps = float(quote["priceImpact"]) * 10_000
    assert 1000 < impact_bps < 4000, quote["priceImpact"]
    refused = await eng.order_id(with_(amountIn="20000", slippageBps=1000))
    allowed = await eng.order_id(with_(amountIn="20000", slippageBps=1000, maxPriceImpactBps=5000))
    assert (await eng.stream(refused))[-1]["error"]["code"] == "price_impact_too_high"
    assert (await eng.stream(allowed))[-1]["status"] == "confirmed"
    over_cap = await eng.submit(with_(maxPriceImpactBps=5001))
    error = assert_error(over_cap, 422, field="maxPriceImpactBps")
    assert "5000" in error["message"]


# -- framing: duplicate keys, encodings, long numbers, long URLs ---------------------------


async def test_a_duplicate_key_is_refused(eng: RunningEngine) -> None:
    raw = b'{"tokenIn": "SOL", "tokenIn": "USDT", "tokenOut": "USDC", "amountIn": "1"}'
    error = assert_error(await post_raw(eng, raw), 400, field="tokenIn")
    assert "tokenIn" in error["message"]
    assert all(order["tokenIn"] != "USDT" for order in await stored_orders(eng))


async def test_a_duplicate_key_in_a_launch_is_refused(eng: RunningEngine) -> None:
    raw = b'{"symbol": "DUPA", "venue": "raydium", "price": "1", "price": "2"}'
    response = await eng.client.post(
        "/api/admin/launch", content=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, field="price")


async def test_a_compressed_body_is_415(eng: RunningEngine) -> None:
    raw = gzip.compress(b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}')
    error = assert_error(
        await post_raw(eng, raw, **{"Content-Encoding": "gzip"}), 415, field="Content-Encoding"
    )
    assert "gzip" in error["message"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":' + b"1" * 10_000 + b"}", "amountIn"),
        (b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":"' + b"1" * 10_000 + b'"}', "amountIn"),
        (b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":"1","slippageBps":' + b"9" * 10_000 + b"}",
         "slippageBps"),
        (b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":0.' + b"1" * 10_000 + b"}", "amountIn"),
    ],
)  # fmt: skip
async def test_a_ten_thousand_digit_number_is_named_and_explained(
    eng: RunningEngine, raw: bytes, field: str
) -> None:
    error = assert_error(await post_raw(eng, raw), 422, field=field)
    assert "JSON" not in error["message"]
    assert_our_words(error)


async def test_a_deeply_nested_body_is_400_not_500(eng: RunningEngine) -> None:
    raw = b'{"tokenIn":' + b"[" * 7_000 + b"]" * 7_000 + b"}"
    assert_error(await post_raw(eng, raw), 400, code="invalid_json")


async def raw_exchange(eng: RunningEngine, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = eng.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/orders?x=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"BLAH\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (
            b"GET /api/orders/execute HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400,
        ),
    ],
)
async def test_server_level_errors_use_the_json_error_shape(
    eng: RunningEngine, request_bytes: bytes, status: int
) -> None:
    got, headers, body = await raw_exchange(eng, request_bytes)
    assert got == status, (got, body[:200])
    assert headers["content-type"].startswith("application/json"), headers
    import orjson

    error = orjson.loads(body)["error"]
    assert error["code"] and error["message"]


# -- our words, and the field the client sent --------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amount": "abc"}, "amount"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amount": "1.0000000001"}, "amount"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amount": "0"}, "amount"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amount": "10000000000000"}, "amount"),
        (with_(clientOrderId=5), "clientOrderId"),
        (with_(tokenIn=["SOL"]), "tokenIn"),
        (with_(type="limit", limitPrice="150", timeInForceSeconds="60"), "timeInForceSeconds"),
        (with_(type="stop"), "type"),
        (with_(slippageBps=1.5), "slippageBps"),
        (with_(venue=3), "venue"),
    ],
)
async def test_validation_messages_are_ours_and_name_the_field_sent(
    eng: RunningEngine, body: dict[str, Any], field: str
) -> None:
    error = assert_error(await eng.submit(body), 422, field=field)
    assert_our_words(error)
    assert field in error["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/orders?limit=0", "limit"),
        ("/api/orders?limit=ten", "limit"),
        ("/api/orders?status=bogus", "status"),
        ("/api/quote?tokenIn=SOL&amountIn=1", "tokenOut"),
    ],
)
async def test_query_messages_are_ours(eng: RunningEngine, path: str, field: str) -> None:
    error = assert_error(await eng.client.get(path), 422, field=field)
    assert_our_words(error)


async def test_launch_messages_are_ours(eng: RunningEngine) -> None:
    body = {"symbol": "WORDS", "venue": "raydium", "price": "1", "decimals": "6"}
    error = assert_error(await eng.client.post("/api/admin/launch", json=body), 422)
    assert error["field"] == "decimals"
    assert_our_words(error)


# -- never build a URL from request headers ----------------------------------------------


@pytest.mark.parametrize("path", ["/api/orders/", "/health/", "/api/admin/launches/"])
async def test_the_host_header_is_never_reflected(eng: RunningEngine, path: str) -> None:
    response = await eng.client.get(path, headers={"Host": "evil.example"})
    assert "evil.example" not in response.headers.get("location", "")
    assert "evil.example" not in response.text
