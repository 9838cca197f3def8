"""Compatibility with other clients of this API: `orderType` is an alias of `type`, and
`websocketUrl` is returned beside `wsUrl`."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from tests.e2e.harness import DEFAULT_ORDER, running_engine


async def test_order_type_is_an_alias_of_type_and_websocket_url_of_ws_url(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        limit = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "orderType": "limit",
                 "limitPrice": "100000"}  # fmt: skip
        accepted = await eng.submit(limit)
        both = await eng.submit({**limit, "type": "limit"})
        clash = await eng.submit({**limit, "type": "market"})
        order = (await eng.client.get(f"/api/orders/{accepted.json()['orderId']}")).json()
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["websocketUrl"] == accepted.json()["wsUrl"]
    assert order["type"] == "limit" and order["websocketUrl"] == order["wsUrl"]
    assert both.status_code == 201, both.text
    assert clash.status_code == 422, clash.text
    assert clash.json()["error"]["field"] == "orderType"


async def test_the_root_names_the_service_and_its_version(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        root = await eng.client.get("/")
    assert root.status_code == 200
    assert root.json()["service"] == "order-engine"
    assert root.json()["version"] == metadata.version("order-engine")


async def test_a_user_id_label_is_stored_shown_and_filterable(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        alice = [await eng.order_id({**DEFAULT_ORDER, "userId": "alice"}) for _ in range(3)]
        await eng.order_id({**DEFAULT_ORDER, "userId": "bob"})
        await eng.order_id()
        listed = (await eng.client.get("/api/orders?userId=alice")).json()
        shown = (await eng.client.get(f"/api/orders/{alice[0]}")).json()
        too_long = await eng.client.get("/api/orders", params={"userId": "x" * 65})
        bad_body = await eng.submit({**DEFAULT_ORDER, "userId": ""})
    assert [o["orderId"] for o in listed["items"]] == alice[::-1]
    assert shown["userId"] == "alice"
    assert too_long.status_code == 422 and too_long.json()["error"]["field"] == "userId"
    assert bad_body.status_code == 422 and bad_body.json()["error"]["field"] == "userId"


async def test_cors_reaches_every_path_the_hot_ones_too(tmp_path: Path) -> None:
    origin = {"Origin": "https://app.example"}
    preflight = {**origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    async with running_engine(tmp_path, cors_origins="https://app.example") as eng:
        options = await eng.client.options("/api/orders/execute", headers=preflight)
        posted = await eng.submit(DEFAULT_ORDER, **origin)
        health = await eng.client.get("/health", headers=origin)
        stranger = await eng.submit(DEFAULT_ORDER, Origin="https://evil.example")
    async with running_engine(tmp_path / "closed") as eng:
        closed = await eng.submit(DEFAULT_ORDER, **origin)
    allowed = "access-control-allow-origin"
    assert options.status_code == 200 and options.headers[allowed] == "https://app.example"
    assert "POST" in options.headers["access-control-allow-methods"]
    assert posted.status_code == 201 and posted.headers[allowed] == "https://app.example"
    assert "Location" in posted.headers["access-control-expose-headers"]
    assert health.headers[allowed] == "https://app.example"
    assert allowed not in stranger.headers and allowed not in closed.headers
