"""The HTTP and WebSocket protocols uvicorn serves the app with: uvicorn's own, except that
the answers uvicorn writes itself — a request it cannot parse, a request line over the limit,
a failed WebSocket handshake — use the API's JSON error shape like every other error."""

from __future__ import annotations

import asyncio
import http
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from order_engine.api.errors import error_body

MAX_URL_BYTES = 8_192  # the longest request target (path and query) answered


class JsonHttpProtocol(HttpToolsProtocol):
    """httptools, with a request-target limit (414) and JSON for the 400/414 it answers."""

    _url_too_long = False

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > MAX_URL_BYTES:
            self._url_too_long = True
            raise ValueError("request target too long")  # the parser stops: a 400 below
        super().on_url(url)

    def send_400_response(self, msg: str) -> None:
        if self._url_too_long:
            status, code = 414, "uri_too_long"
            message = f"the request's path and query are over {MAX_URL_BYTES} bytes"
        else:
            status, code = 400, "bad_request"
            message = "the request is not valid HTTP/1.1"
        body = orjson.dumps(error_body(code, message))
        phrase = http.HTTPStatus(status).phrase
        head = [f"HTTP/1.1 {status} {phrase}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def json_rejection(response: WsResponse) -> WsResponse:
    """A refused WebSocket handshake, answered in the API's JSON error shape."""
    if response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
        return response
    body = orjson.dumps(
        error_body(
            "bad_websocket_handshake",
            f"not a valid WebSocket handshake ({response.status_code} "
            f"{response.reason_phrase}): connect with a WebSocket client to "
            "/api/orders/execute?orderId=<id>",
        )
    )
    headers = Headers(
        (name, value)
        for name, value in response.headers.raw_items()
        if name.lower() not in ("content-type", "content-length")
    )
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    return WsResponse(response.status_code, response.reason_phrase, headers, body)


class _Flag:
    """`asyncio.Event` as uvicorn's WebSocket protocol uses it (`writable`: set, clear,
    is_set, wait), without the deque of waiters every Event allocates (0.7 KiB a socket)."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> bool:
        while not self._is_set:
            await _park(self._waiters if self._waiters is not None else self._new_waiters())
        return True

    def _new_waiters(self) -> list[asyncio.Future[None]]:
        self._waiters = []
        return self._waiters


class _Messages:
    """`asyncio.Queue` as uvicorn's WebSocket protocol uses it (`queue`: put_nowait, get,
    empty; unbounded), without its three deques and Event (3 KiB a socket)."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        for getter in self._getters:
            if not getter.done():
                getter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            await _park(self._getters)
        return self._items.pop(0)


async def _park(waiters: list[asyncio.Future[None]]) -> None:
    """Wait until one of `waiters`' owners wakes them all."""
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    finally:
        waiters.remove(waiter)


class JsonWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets (sans-I/O), with JSON for the handshakes it refuses; lighter per socket
    (measured with tracemalloc: thousands of streams sit idle on one process): a list-based
    receive queue and writable flag, and no handshake request and response kept once the
    socket is open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Messages()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.request = self.response = None  # type: ignore[assignment]

    def handle_connect(self, event: WsRequest) -> None:
        accept = self.conn.accept

        def accept_or_refuse(request: WsRequest) -> WsResponse:
            return json_rejection(accept(request))

        self.conn.accept = accept_or_refuse  # type: ignore[method-assign]
        super().handle_connect(event)

    def send_500_response(self) -> None:
        if self.initial_response or self.handshake_complete:
            return
        response = json_rejection(self.conn.reject(500, "internal error"))
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))


def server_protocols() -> dict[str, Any]:
    """uvicorn's `http` and `ws` options for every server of the API."""
    return {"http": JsonHttpProtocol, "ws": JsonWebSocketProtocol}
