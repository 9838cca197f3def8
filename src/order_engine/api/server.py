"""The HTTP and WebSocket protocols uvicorn serves the app with: uvicorn's own, except that
the answers uvicorn writes itself — a request it cannot parse, a request line over the limit,
a failed WebSocket handshake — use the API's JSON error shape like every other error."""

from __future__ import annotations

import asyncio
import http
import logging
import random
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import orjson
from uvicorn._types import WebSocketScope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse
from websockets.server import ServerProtocol

from order_engine.api.batched_writes import BatchedWrites
from order_engine.api.errors import error_body
from order_engine.api.socket_parts import Flag, Messages, Timer, ticks_of

if TYPE_CHECKING:
    from uvicorn.server import Protocols

MAX_URL_BYTES = 8_192  # the longest request target (path and query) answered


class JsonHttpProtocol(HttpToolsProtocol):
    """httptools, with a request-target limit (414) and JSON for the 400/414 it answers;
    what one loop turn writes leaves in one write (`BatchedWrites`), on the WebSocket it
    may be upgraded to as well."""

    _url_too_long = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(BatchedWrites.around(transport))

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


WATCH_DISCONNECT = "order_engine.watch_disconnect"
"""The scope extension (`scope["extensions"]`) of `JsonWebSocketProtocol.watch_disconnect`:
an app that only sends learns that the client went away without a task reading for it."""

WatchDisconnect = Callable[[Callable[[], None] | None], None]


class JsonWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets (sans-I/O), with JSON for the handshakes it refuses; lighter per socket
    (measured with tracemalloc: thousands of streams sit idle on one process):

    - a list-based receive queue and writable flag;
    - what uvicorn's `__init__` copies from the server into every socket (the app, the
      server's sets, the keepalive settings) is read from the config and server state:
      with under 30 attribute names, all set in `__init__`, a socket's attributes fit
      CPython's shared-key instance dict (0.3 KiB) instead of a dict of its own (1.6 KiB);
    - no handshake request and response kept once the socket is open (websockets' parser
      keeps the request in its generator for the connection's life: it is emptied);
    - `watch_disconnect` (scope extension `WATCH_DISCONNECT`): a sending-only app is told
      when the client goes away instead of running a task that reads (1.5 KiB);
    - the keepalive's ping and pong timers on one timer per event loop (`Ticks`)."""

    logger = logging.getLogger("uvicorn.error")
    close_timeout = 10.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        # uvicorn's `WebSocketsSansIOProtocol.__init__` (0.54) without what every socket
        # of a server shares (properties below). Every attribute a socket ever gets is set
        # here (28): CPython 3.11 shares one key table among a class's instances, but only
        # names its first instances set while a few of them exist; a name set first later
        # (e.g. at the handshake, once many sockets are open) gives that socket a dict of
        # its own (0.8-1.6 KiB instead of 0.3)
        if not config.loaded:
            config.load()
        self.config = config
        self._server_state = server_state
        self.loop = _loop or asyncio.get_event_loop()
        self.app_state = app_state
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme: Literal["wss", "ws"] = None  # type: ignore[assignment]
        self.scope: WebSocketScope = None  # type: ignore[assignment]
        self.request: WsRequest = None  # type: ignore[assignment]
        self.response: WsResponse = None  # type: ignore[assignment]
        self.queue = Messages()  # type: ignore[assignment]
        self.handshake_initiated = False
        self.handshake_complete = False
        self.close_sent = False
        self.disconnected = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.initial_response: tuple[int, list[tuple[str, str]], bytes] | None = None
        extensions = []
        if config.ws_per_message_deflate:
            extensions = [
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12,
                    client_max_window_bits=12,
                    compress_settings={"memLevel": 5},
                )
            ]
        self.conn = ServerProtocol(
            extensions=extensions, max_size=config.ws_max_size, logger=self.logger
        )
        self.read_paused = False
        self.writable = Flag()  # type: ignore[assignment]
        self.ping_timer: Timer | None = None  # type: ignore[assignment]
        self.pong_timer: Timer | None = None  # type: ignore[assignment]
        self.pending_ping_payload: bytes | None = None
        self.ping_sent_at = 0.0
        self.last_ping_rtt = 0.0
        self.frames: list[bytes] = []
        self.curr_msg_data_type: Literal["text", "bytes"] = "bytes"

    @property
    def app(self) -> Any:
        return self.config.loaded_app

    @property
    def root_path(self) -> str:  # type: ignore[override]
        return self.config.root_path

    @property
    def asgi_version(self) -> Literal["2.0", "3.0"]:  # type: ignore[override]
        return self.config.asgi_version

    @property
    def ping_interval(self) -> float | None:  # type: ignore[override]
        return self.config.ws_ping_interval

    @property
    def ping_timeout(self) -> float | None:  # type: ignore[override]
        return self.config.ws_ping_timeout

    @property
    def connections(self) -> set[Protocols]:  # type: ignore[override]
        return self._server_state.connections

    @property
    def tasks(self) -> set[asyncio.Task[None]]:  # type: ignore[override]
        return self._server_state.tasks

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:  # type: ignore[override]
        return self._server_state.default_headers

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.response = None  # type: ignore[assignment]

    def handle_connect(self, event: WsRequest) -> None:
        accept = self.conn.accept

        def accept_or_refuse(request: WsRequest) -> WsResponse:
            return json_rejection(accept(request))

        self.conn.accept = accept_or_refuse  # type: ignore[method-assign]
        try:
            super().handle_connect(event)
        finally:
            del self.conn.accept  # the class's again
        if self.handshake_complete:  # refused: nothing more happens on this socket
            return
        # the scope has what the app needs; websockets' parser still holds `event`
        event.path = ""
        event.headers.clear()
        self.request = None  # type: ignore[assignment]
        extensions: dict[str, Any] = self.scope["extensions"]
        extensions[WATCH_DISCONNECT] = self.watch_disconnect

    def watch_disconnect(self, on_gone: Callable[[], None] | None) -> None:
        """While `on_gone` is set: call it (once) when the client goes away (its close
        frame, a lost connection, the server's shutdown), and drop the messages the client
        sends instead of queueing them (nobody reads them; reading goes on). None: stop."""
        self._messages.on_disconnect = on_gone
        if on_gone is not None:
            if self._messages.drop_received():
                self._messages.on_disconnect = None
                on_gone()  # gone already
            self._read_on()

    def send_receive_event_to_app(self) -> None:
        super().send_receive_event_to_app()
        if self._messages.on_disconnect is not None:
            self._messages.drop_received()
            self._read_on()

    @property
    def _messages(self) -> Messages:
        return self.queue  # type: ignore[return-value]

    def _read_on(self) -> None:
        if self.read_paused and not self.transport.is_closing():
            self.read_paused = False
            self.transport.resume_reading()

    def schedule_ping(self) -> None:
        assert self.ping_interval is not None
        delay_s = max(0.0, self.ping_interval - self.last_ping_rtt)
        self.ping_timer = ticks_of(self.loop).call_later(delay_s, self.send_keepalive_ping)

    def send_keepalive_ping(self) -> None:
        # uvicorn's (0.54), with the pong's deadline on the loop's ticks
        self.ping_timer = None
        if self.close_sent or self.transport.is_closing():
            return
        self.pending_ping_payload = struct.pack("!I", random.getrandbits(32))
        self.ping_sent_at = self.loop.time()
        self.conn.send_ping(self.pending_ping_payload)
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.ping_timeout is not None:
            self.pong_timer = ticks_of(self.loop).call_later(
                self.ping_timeout, self.keepalive_timeout
            )
        else:
            self.schedule_ping()

    def send_500_response(self) -> None:
        if self.initial_response or self.handshake_complete:
            return
        response = json_rejection(self.conn.reject(500, "internal error"))
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))


def server_protocols(ping_interval_s: float = 20.0, ping_timeout_s: float = 20.0) -> dict[str, Any]:
    """uvicorn's `http` and `ws` options for every server of the API: our protocols, and
    the WebSocket keepalive (`WS_PING_INTERVAL_S`, `WS_PING_TIMEOUT_S`): a ping to every
    open socket each interval, and a socket whose pong is later than the timeout closed."""
    return {
        "http": JsonHttpProtocol,
        "ws": JsonWebSocketProtocol,
        "ws_ping_interval": ping_interval_s,
        "ws_ping_timeout": ping_timeout_s,
    }
