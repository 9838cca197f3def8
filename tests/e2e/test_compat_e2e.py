"""Compatibility with other clients of this API: `orderType` is an alias of `type`, and
`websocketUrl` is returned beside `wsUrl`."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from tests.e2e.harness import running_engine


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
