"""The HTTP and WebSocket protocols uvicorn serves the app with: uvicorn's own, except that
the answers uvicorn writes itself — a request it cannot parse, a request line over the limit,
a failed WebSocket handshake — use the API's JSON error shape like every other error."""

from __future__ import annotations

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


class JsonWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets (sans-I/O), with JSON for the handshakes it refuses."""

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
