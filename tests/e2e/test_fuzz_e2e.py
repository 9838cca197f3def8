"""A fuzz pass over every endpoint (Hypothesis): random methods, paths, query strings,
headers and bodies against the running app — never a 5xx, and every error in the one JSON
shape. The app runs in a thread (its own event loop) so Hypothesis drives it synchronously."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import string
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from order_engine.api.app import create_app
from tests.e2e.harness import running_engine

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "slippageBps": 300}
VALID_QUERY = {
    "tokenIn": "SOL",
    "tokenOut": "USDC",
    "amountIn": "1.5",
    "slippageBps": "50",
    "after": "1",
    "limit": "5",
    "status": "confirmed",
}
HOT_PATHS = [("/api/orders/execute", "POST")]  # served in front of the framework


@dataclass
class Served:
    base_url: str
    routes: list[tuple[str, str, list[str]]]  # path, method, query parameter names
    order_ids: list[str]  # orders that finished (their streams end)
    auth: dict[str, str]  # the admin key: the fuzz reaches every handler, not just the 401


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The engine as `serve` runs it, in a thread; a few finished orders to point at."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def run() -> None:
        stop = box["stop"] = asyncio.Event()
        box["loop"] = asyncio.get_running_loop()
        async with running_engine(tmp_path_factory.mktemp("fuzz"), venues="sim") as eng:
            ids = [await eng.order_id(ORDER) for _ in range(2)]
            for order_id in ids:
                await eng.stream(order_id)
            box["served"] = Served(eng.base_url, every_route(), ids, eng.auth)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    assert ready.wait(60), "the engine did not start"
    yield box["served"]
    box["loop"].call_soon_threadsafe(box["stop"].set)
    thread.join(30)


@contextlib.asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def every_route() -> list[tuple[str, str, list[str]]]:
    """Every route the app serves (the app itself lists them), with its query parameters."""
    app = create_app(_no_lifespan).fastapi
    found: dict[tuple[str, str], list[str]] = {(p, method): [] for p, method in HOT_PATHS}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            params = operation.get("parameters", [])
            query = [p["name"] for p in params if p["in"] == "query"]
            found[(path, method.upper())] = query
    for route in app.routes:  # the docs pages and the routes left out of the schema
        if isinstance(route, Route | APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.setdefault((route.path, method), [])
    return [(path, method, query) for (path, method), query in sorted(found.items())]


# values known to have broken parsers somewhere, then anything
nasty = st.sampled_from(
    ["", "0", "-1", "1.5", "1e-9999999", "1E+3", str(2**31), str(2**63), "9" * 400, "NaN",
     "٣", "²", "１", " 5", "1_000", "%00", "\x00", "null", "[]", "{}", "0x10"]
)  # fmt: skip
tricky = nasty | st.text(
    alphabet=st.sampled_from(string.printable + "١３²é\u00a0/?&#%"), max_size=30
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | tricky
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=8,
)
order_like = st.dictionaries(
    st.sampled_from([*ORDER, "amount", "type", "limitPrice", "maxPrice", "venue", "expiresAt",
                     "timeInForceSeconds", "clientOrderId", "maxPriceImpactBps", "symbol",
                     "price", "quote", "decimals", "depthUsd"]) | tricky,
    json_values,
    max_size=8,
).map(lambda extra: {**ORDER, **extra})  # fmt: skip
bodies = (
    order_like.map(lambda body: json.dumps(body).encode())
    | st.binary(max_size=300)
    | json_values.map(lambda value: json.dumps(value).encode())
)
header_values = tricky.map(str.strip).filter(lambda s: s.isascii() and s.isprintable())
headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(["application/json", "text/plain", "x/y+json", ""]),
        "Content-Encoding": st.sampled_from(["gzip", "identity", "br"]),
        "Accept": st.sampled_from(["text/event-stream", "application/json", "*/*"]),
        "Last-Event-ID": header_values,
        "Idempotency-Key": header_values,
    },
)


def assert_sound(response: httpx.Response) -> None:
    """No 5xx; every error in the one JSON shape."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert set(error) <= {"code", "message", "field"}


def fill_path(path: str, segment: str) -> str:
    return path.replace("{order_id}", segment).replace("{signature}", segment)


@st.composite
def requests(draw: st.DrawFn, served: Served, route: tuple[str, str, list[str]]) -> Request:
    path, method, names = route
    segment = draw(st.sampled_from(served.order_ids) | st.sampled_from(served.order_ids) | tricky)
    # mostly-valid requests with some parameters mutated reach deeper than random ones
    params = {name: st.just(VALID_QUERY.get(name, "1")) | tricky for name in names}
    query = draw(st.fixed_dictionaries(params)) if draw(st.integers(0, 3)) else {}
    if not draw(st.integers(0, 4)):
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    return Request(
        method,
        fill_path(path, quote(segment, safe="") or "x"),
        {**query, **draw(st.dictionaries(tricky, tricky, max_size=2))},
        draw(headers),
        draw(bodies),
    )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


ROUTES = every_route()


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for p, m, _ in ROUTES])
def test_every_endpoint_survives_fuzzing(served: Served, route: tuple[str, str, list[str]]) -> None:
    with httpx.Client(base_url=served.base_url, timeout=10, headers=served.auth) as client:

        @settings(FUZZ, max_examples=250 if route[2] or "{" in route[0] else 40)
        @given(st.data())
        def fuzz(data: st.DataObject) -> None:
            r = data.draw(requests(served, route))
            content = r.body if r.method in ("POST", "PUT", "PATCH") else None
            response = client.request(
                r.method, r.path, params=r.query, content=content, headers=r.headers
            )
            assert_sound(response)

        fuzz()


@FUZZ
@given(data=st.data())
def test_the_websocket_closes_with_a_code_and_reason_or_refuses_in_json(
    served: Served, data: st.DataObject
) -> None:
    ids = st.sampled_from(served.order_ids) | tricky
    query = data.draw(st.fixed_dictionaries({}, optional={"orderId": ids, "after": tricky}))
    url = httpx.URL(served.base_url.replace("http", "ws", 1) + "/api/orders/execute")
    try:
        with connect(
            str(url.copy_with(params=query)),
            open_timeout=5,
            close_timeout=5,
            additional_headers=served.auth,
        ) as ws:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    ws.recv(timeout=10)
            assert ws.protocol.close_code in (1000, 4400, 4404), ws.protocol.close_code
            assert ws.protocol.close_reason
    except InvalidStatus as exc:
        assert exc.response.status_code < 500
        assert json.loads(exc.response.body)["error"]["message"]


@FUZZ
@given(
    target=st.binary(min_size=1, max_size=120),
    header=st.binary(max_size=60),
)
def test_raw_requests_get_json_errors(served: Served, target: bytes, header: bytes) -> None:
    """Whatever bytes arrive, an answer the server writes itself is in our JSON shape."""
    host, port = served.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"GET "
            + target
            + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + header
            + b"\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return  # the connection was closed without an answer
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status < 500, data[:300]
    if status >= 400:
        assert b"content-type: application/json" in head.lower(), data[:300]
        assert json.loads(body)["error"]["message"]


def test_the_fuzz_covers_every_route(served: Served) -> None:
    paths = {path for path, _, _ in served.routes}
    expected = {"/api/orders/execute", "/api/orders/{order_id}", "/api/quote", "/health", "/"}
    assert expected <= paths and "/api/admin/launch" in paths and "/docs" in paths
    assert len(served.routes) >= 15, served.routes
