"""Every bad input gets a clear 4xx in the one error shape, and nothing is stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import RunningEngine, assert_error, running_engine, stored_orders

pytestmark = pytest.mark.asyncio(loop_scope="module")

GOOD: dict[str, Any] = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5"}
BIG_PAD = "x" * 17_000  # the default body limit is 16 KiB
UNKNOWN_ID = "5f0c9a57-3c1e-4b7e-9d55-6a3f1f2e8b10"  # fixed: test ids must match across workers


def with_(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


@dataclass(frozen=True)
class Bad:
    body: Any = None
    raw: bytes | None = None
    content_type: str | None = "application/json"
    status: int = 422
    field: str | None = None
    code: str | None = None

    def content(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)


def amount(value: Any, token_in: str = "SOL", token_out: str = "USDC") -> Bad:
    return Bad({"tokenIn": token_in, "tokenOut": token_out, "amountIn": value}, field="amountIn")


def slippage(value: Any) -> Bad:
    return Bad(with_(slippageBps=value), field="slippageBps")


BAD_BODIES: dict[str, Bad] = {
    "missing-tokenIn": Bad(without("tokenIn"), field="tokenIn"),
    "missing-tokenOut": Bad(without("tokenOut"), field="tokenOut"),
    "missing-amountIn": Bad(without("amountIn"), field="amountIn"),
    "amount-abc": amount("abc"),
    "amount-true": amount(True),
    "amount-list": amount([]),
    "amount-object": amount({}),
    "amount-null": amount(None),
    "amount-empty-string": amount(""),
    "amount-zero-string": amount("0"),
    "amount-zero-number": amount(0),
    "amount-negative": amount("-1"),
    "amount-negative-number": amount(-0.5),
    "amount-NaN-string": amount("NaN"),
    "amount-sNaN-string": amount("sNaN"),
    "amount-Infinity-string": amount("Infinity"),
    "amount-minus-Infinity-string": amount("-Infinity"),
    "amount-huge-number": amount(1e13),
    "amount-huge-string": amount("10000000000000"),
    "usdc-7-decimals": amount("1.0000001", "USDC", "SOL"),
    "sol-10-decimals": amount("1.0000000001"),
    "sol-tiny-exponent": amount("1e-10"),
    "slippage-negative": slippage(-1),
    "slippage-over-5000": slippage(5001),
    "slippage-fractional": slippage(50.5),
    "slippage-string": slippage("50"),
    "slippage-boolean": slippage(True),
    "slippage-null": slippage(None),
    "unknown-tokenIn": Bad(with_(tokenIn="DOGE"), field="tokenIn", code="unknown_token"),
    "unknown-tokenOut": Bad(with_(tokenOut="XYZ"), field="tokenOut", code="unknown_token"),
    "tokenIn-number": Bad(with_(tokenIn=123), field="tokenIn"),
    "tokenIn-empty": Bad(with_(tokenIn=""), field="tokenIn"),
    "same-token": Bad(with_(tokenOut="SOL"), field="tokenOut", code="same_token"),
    "sol-to-wsol": Bad(with_(tokenOut="WSOL"), field="tokenOut", code="same_token"),
    "same-token-other-case": Bad(with_(tokenIn="usdc", tokenOut="USDC"), field="tokenOut"),
    "amount-and-amountIn": Bad(with_(amount="1.5"), field="amount"),
    "alias-amount-bad": Bad({"tokenIn": "SOL", "tokenOut": "USDC", "amount": "x"}, field="amount"),
    "unknown-field": Bad(with_(slipageBps=50), field="slipageBps"),
    "type-stop": Bad(with_(type="stop"), field="type"),
    "limit-without-price": Bad(with_(type="limit"), field="limitPrice"),
    "limit-price-zero": Bad(with_(type="limit", limitPrice="0"), field="limitPrice"),
    "limit-price-negative": Bad(with_(type="limit", limitPrice="-150"), field="limitPrice"),
    "limit-price-NaN": Bad(with_(type="limit", limitPrice="NaN"), field="limitPrice"),
    "limit-price-huge": Bad(with_(type="limit", limitPrice="1e13"), field="limitPrice"),
    "limit-price-word": Bad(with_(type="limit", limitPrice="high"), field="limitPrice"),
    "market-with-limitPrice": Bad(with_(limitPrice="150"), field="limitPrice"),
    "market-with-tif": Bad(with_(timeInForceSeconds=60), field="timeInForceSeconds"),
    "market-with-expiresAt": Bad(with_(expiresAt="2099-01-01T00:00:00Z"), field="expiresAt"),
    "limit-tif-and-expiresAt": Bad(
        with_(
            type="limit", limitPrice="150", timeInForceSeconds=60, expiresAt="2099-01-01T00:00:00Z"
        ),
        field="timeInForceSeconds",
    ),
    "limit-tif-zero": Bad(
        with_(type="limit", limitPrice="150", timeInForceSeconds=0), field="timeInForceSeconds"
    ),
    "limit-tif-over-a-week": Bad(
        with_(type="limit", limitPrice="150", timeInForceSeconds=604_801),
        field="timeInForceSeconds",
    ),
    "limit-tif-string": Bad(
        with_(type="limit", limitPrice="150", timeInForceSeconds="60"), field="timeInForceSeconds"
    ),
    "limit-expiresAt-past": Bad(
        with_(type="limit", limitPrice="150", expiresAt="2020-01-01T00:00:00Z"), field="expiresAt"
    ),
    "limit-expiresAt-no-zone": Bad(
        with_(type="limit", limitPrice="150", expiresAt="2099-01-01T00:00:00"), field="expiresAt"
    ),
    "limit-expiresAt-garbage": Bad(
        with_(type="limit", limitPrice="150", expiresAt="tomorrow"), field="expiresAt"
    ),
    "limit-expiresAt-too-far": Bad(
        with_(type="limit", limitPrice="150", expiresAt="2099-01-01T00:00:00Z"), field="expiresAt"
    ),
    "type-number": Bad(with_(type=1), field="type"),
    "clientOrderId-too-long": Bad(with_(clientOrderId="c" * 65), field="clientOrderId"),
    "clientOrderId-empty": Bad(with_(clientOrderId=""), field="clientOrderId"),
    "not-json": Bad(raw=b"tokenIn=SOL&tokenOut=USDC", status=400, code="invalid_json"),
    "truncated-json": Bad(raw=b'{"tokenIn": "SOL"', status=400, code="invalid_json"),
    "empty-body": Bad(raw=b"", status=400, code="invalid_json"),
    "json-array": Bad(raw=orjson.dumps([GOOD]), status=400, code="invalid_json"),
    "json-string": Bad(raw=b'"SOL"', status=400, code="invalid_json"),
    "json-NaN-literal": Bad(raw=b'{"tokenIn":"SOL","tokenOut":"USDC","amountIn":NaN}', status=400),
    "not-utf8": Bad(raw=b'{"tokenIn":"\xff\xfe"}', status=400),
    "text-plain": Bad(GOOD, content_type="text/plain", status=415, field="Content-Type", code=None),
    "form-encoded": Bad(GOOD, content_type="application/x-www-form-urlencoded", status=415),
    "no-content-type": Bad(GOOD, content_type=None, status=415),
    "too-large": Bad(with_(clientOrderId=BIG_PAD), status=413, code="body_too_large"),
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def eng(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningEngine]:
    async with running_engine(tmp_path_factory.mktemp("bad-input")) as running:
        yield running


async def assert_nothing_stored(eng: RunningEngine) -> None:
    assert await stored_orders(eng) == []


@pytest.mark.parametrize("case", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_bad_order_body_is_rejected_and_not_stored(eng: RunningEngine, case: Bad) -> None:
    headers = {} if case.content_type is None else {"Content-Type": case.content_type}
    response = await eng.client.post("/api/orders/execute", content=case.content(), headers=headers)
    assert_error(response, case.status, code=case.code, field=case.field)
    await assert_nothing_stored(eng)


async def test_chunked_body_over_the_limit_is_413(eng: RunningEngine) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "pad": "'
        for _ in range(20):
            yield b"x" * 1024
        yield b'"}'

    response = await eng.client.post(
        "/api/orders/execute", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, code="body_too_large")
    await assert_nothing_stored(eng)


async def test_idempotency_key_too_long_names_the_header(eng: RunningEngine) -> None:
    response = await eng.submit(GOOD, **{"Idempotency-Key": "k" * 129})
    error = assert_error(response, 422)
    assert "idempotency" in error.get("field", "").lower(), error
    await assert_nothing_stored(eng)


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "field"),
    [
        ("GET", "/api/orders/not-a-uuid", 422, None, "orderId"),
        ("GET", f"/api/orders/{UNKNOWN_ID}", 404, "order_not_found", None),
        ("GET", "/api/orders/not-a-uuid/events", 422, None, "orderId"),
        ("GET", f"/api/orders/{UNKNOWN_ID}/events", 404, "order_not_found", None),
        ("GET", f"/api/orders/{UNKNOWN_ID}/events?after=-1", 422, None, "after"),
        ("GET", f"/api/orders/{UNKNOWN_ID}/events?after=x", 422, None, "after"),
        ("POST", "/api/orders/not-a-uuid/cancel", 422, None, "orderId"),
        ("POST", f"/api/orders/{UNKNOWN_ID}/cancel", 404, "order_not_found", None),
        ("GET", "/api/orders/execute", 426, "upgrade_required", None),
        ("GET", "/api/orders?limit=0", 422, None, "limit"),
        ("GET", "/api/orders?limit=1000", 422, None, "limit"),
        ("GET", "/api/orders?limit=ten", 422, None, "limit"),
        ("GET", "/api/orders?status=bogus", 422, None, "status"),
        ("GET", "/api/orders?cursor=%21%21not-a-cursor%21%21", 422, None, "cursor"),
        ("GET", "/api/orders?cursor=bm90LWEtY3Vyc29y", 422, None, "cursor"),
        ("GET", "/api/no-such-route", 404, "not_found", None),
        ("DELETE", "/api/orders/execute", 405, "method_not_allowed", None),
    ],
)
async def test_bad_paths_and_queries_get_the_error_shape(
    eng: RunningEngine, method: str, path: str, status: int, code: str | None, field: str | None
) -> None:
    response = await eng.client.request(method, path, json={} if method == "POST" else None)
    assert_error(response, status, code=code, field=field)
    await assert_nothing_stored(eng)


async def test_unknown_order_events_as_sse_is_404_before_streaming(eng: RunningEngine) -> None:
    response = await eng.client.get(
        f"/api/orders/{uuid.uuid4()}/events", headers={"Accept": "text/event-stream"}
    )
    assert_error(response, 404, code="order_not_found")


async def close_of(eng: RunningEngine, query: str) -> tuple[int | None, str | None]:
    """Connect, expect the server to close without sending anything; its code and reason."""
    async with connect(
        f"{eng.ws_base}/api/orders/execute{query}", additional_headers=eng.auth
    ) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return ws.close_code, ws.close_reason


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?orderId=not-a-uuid", 4400),
        ("?orderId=", 4400),
        ("", 4400),
        (f"?orderId={UNKNOWN_ID}", 4404),
        (f"?orderId={UNKNOWN_ID}&after=-1", 4400),
        (f"?orderId={UNKNOWN_ID}&after=x", 4400),
        (f"?orderId={UNKNOWN_ID}&after=1.5", 4400),
    ],
)
async def test_websocket_bad_request_closes_with_code_and_reason(
    eng: RunningEngine, query: str, code: int
) -> None:
    close_code, reason = await close_of(eng, query)
    assert close_code == code, (close_code, reason)
    assert reason, "the close must say why"
    expected_word = "order" if code == 4404 else ("after" if "after" in query else "orderId")
    assert expected_word in reason, reason


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "abc"}, "amountIn"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0"}, "amountIn"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "NaN"}, "amountIn"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.0000000001"}, "amountIn"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1e13"}, "amountIn"),
        ({"tokenIn": "DOGE", "tokenOut": "USDC", "amountIn": "1"}, "tokenIn"),
        ({"tokenIn": "SOL", "tokenOut": "WSOL", "amountIn": "1"}, "tokenOut"),
        ({"tokenIn": "SOL", "amountIn": "1"}, "tokenOut"),
        ({"tokenIn": "SOL", "tokenOut": "USDC"}, "amountIn"),
    ],
)
async def test_bad_quote_input_names_the_field(
    eng: RunningEngine, params: dict[str, str], field: str
) -> None:
    assert_error(await eng.client.get("/api/quote", params=params), 422, field=field)


async def test_nothing_was_stored_by_any_bad_input(eng: RunningEngine) -> None:
    await assert_nothing_stored(eng)
    metrics = (await eng.client.get("/metrics")).text
    assert 'order_events_total{status="pending"} 0.0' in metrics


async def test_amount_alias_alone_is_accepted(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as other:
        response = await other.submit({"tokenIn": "SOL", "tokenOut": "USDC", "amount": "2"})
        assert response.status_code == 201, response.text
        order_id = response.json()["orderId"]
        order = (await other.client.get(f"/api/orders/{order_id}")).json()
        assert order["amountIn"] == "2"
        assert [o["orderId"] for o in await stored_orders(other)] == [order_id]
        assert (await other.stream(order_id))[-1]["status"] == "confirmed"
