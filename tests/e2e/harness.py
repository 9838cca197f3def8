"""Start the real app (uvicorn, real sockets) inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from websockets.asyncio.client import connect

from order_engine.api.server import server_protocols
from order_engine.bootstrap import Engine, build_app
from order_engine.settings import Settings

TERMINAL = {"confirmed", "failed", "cancelled", "expired"}
HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]
# 2% slippage: orders executing together move the simulated pools (±0.5% drift plus the
# swaps landed in between), which can exceed the default 0.5% and retry; tests of the
# lifecycle, the policy and the API are not about that (the slippage tests set their own).
DEFAULT_ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "slippageBps": 200}
IN_ORDER = ["pending", "waiting", "routing", "building", "submitted"]  # before the terminal


@dataclass
class RunningEngine:
    base_url: str
    ws_base: str
    engine: Engine
    client: httpx.AsyncClient  # sends the admin key (see `serving`)
    api_key: str | None = None

    @property
    def auth(self) -> dict[str, str]:
        """The admin key's header, for a WebSocket or a client of one's own."""
        return {} if self.api_key is None else {"Authorization": f"Bearer {self.api_key}"}

    async def submit(self, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        payload = body if body is not None else DEFAULT_ORDER
        return await self.client.post("/api/orders/execute", json=payload, headers=headers)

    async def order_id(self, body: dict[str, Any] | None = None) -> str:
        response = await self.submit(body)
        assert response.status_code == 201, response.text
        order_id: str = response.json()["orderId"]
        return order_id

    async def stream_until(self, order_id: str, status: str) -> list[dict[str, Any]]:
        """Events until (and with) the first one with `status`; then hang up."""
        url = f"{self.ws_base}/api/orders/execute?orderId={order_id}"
        events: list[dict[str, Any]] = []
        async with connect(url, additional_headers=self.auth) as ws:
            async for message in ws:
                events.append(orjson.loads(message))
                if events[-1].get("status") == status:
                    break
        return events

    async def stream(self, order_id: str, after: int | None = None) -> list[dict[str, Any]]:
        """Every event until the server closes the socket (it must close with 1000)."""
        url = f"{self.ws_base}/api/orders/execute?orderId={order_id}"
        if after is not None:
            url += f"&after={after}"
        events: list[dict[str, Any]] = []
        async with connect(url, additional_headers=self.auth) as ws:
            async for message in ws:
                events.append(orjson.loads(message))
            assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
        return events


def admin_key(settings: Settings) -> str | None:
    """The key `serve` wrote at its first start (None: open mode, or not `serve`)."""
    path = settings.data_dir / "admin.key"
    return path.read_text().strip() if path.exists() else None


def free_socket() -> socket.socket:
    """A socket bound to a port the kernel chose, not listening (connections are refused).

    No SO_REUSEADDR: with it, Linux may hand the same port to two such sockets (another
    xdist worker's), and the second `listen` fails with EADDRINUSE."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP; with proto 0 every response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


def listening_socket(attempts: int = 5) -> socket.socket:
    """A free socket already listening: its port is ours from here on (uvicorn's own
    `listen` on it only sets the backlog again). Linux checks the port again at `listen`,
    stricter than at `bind`: a port that fails there is dropped for another one."""
    for attempt in range(attempts):
        sock = free_socket()
        try:
            sock.listen(2048)
        except OSError:
            sock.close()
            if attempt == attempts - 1:
                raise
        else:
            return sock
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, command: str = "serve", *, protocols: dict[str, Any] | None = None
) -> AsyncIterator[RunningEngine]:
    """`build_app(settings, command=...)` under uvicorn on a free port (it sets
    `settings.port`), inside the test's event loop, with a client for it; uvicorn's
    options are the API's (`server_protocols`, with the settings' keepalive), with
    `protocols` over them (e.g. uvicorn's own WebSocket protocol)."""
    with listening_socket() as sock:  # closed also when the server fails to start
        settings.port = sock.getsockname()[1]
        app = build_app(settings, workers=command == "serve", command=command)
        options = server_protocols(settings.ws_ping_interval_s, settings.ws_ping_timeout_s)
        options.update(protocols or {})
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", access_log=False, **options
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        base = f"http://127.0.0.1:{settings.port}"
        key = admin_key(settings)
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as client:
                ws_base = f"ws://127.0.0.1:{settings.port}"
                yield RunningEngine(base, ws_base, app.state.engine, client, key)
        finally:
            server.should_exit = True
            await task


@contextlib.asynccontextmanager
async def running_engine(tmp_path: Path, **overrides: Any) -> AsyncIterator[RunningEngine]:
    """The engine as `order-engine serve` runs it, on a free port, latency 0, fixed seed,
    on the simulated venues unless `venues="chain"` (the real programs); `protocols=`
    goes to `serving` (a key Settings would silently ignore), every other override to the
    settings."""
    protocols: dict[str, Any] | None = overrides.pop("protocols", None)
    defaults: dict[str, Any] = {
        "venues": "sim",
        "market_interval_s": 0,  # no background trades: outcomes depend on the orders only
        "host": "127.0.0.1",
        "data_dir": tmp_path,
        "latency_scale": 0,
        "rng_seed": 7,
        "backoff_base_s": 0.01,
        "rate_limit_max": 0,
        "_env_file": None,
    }
    async with serving(Settings(**{**defaults, **overrides}), protocols=protocols) as running:
        yield running


def statuses(events: list[dict[str, Any]]) -> list[str]:
    return [e["status"] for e in events]


def assert_lifecycle(events: list[dict[str, Any]], order_id: str, final: str) -> None:
    """seq 1..n, each status once, in lifecycle order, exactly one terminal event last."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["orderId"] == order_id for e in events)
    got = statuses(events)
    assert got[-1] == final
    assert sum(s in TERMINAL for s in got) == 1
    expected_order = [s for s in IN_ORDER if s in got]
    assert got[:-1] == expected_order, got
    assert all(isinstance(e["tsMs"], int) and isinstance(e["attempt"], int) for e in events)


def assert_error(
    response: httpx.Response, status: int, *, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The one error shape `{"error": {"code", "message", "field"?}}`; returns the error."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) <= {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error
    return error


async def stored_orders(eng: RunningEngine, **params: str) -> list[dict[str, Any]]:
    """Every stored order (one page of up to 200), newest first."""
    response = await eng.client.get("/api/orders", params={"limit": "200", **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
