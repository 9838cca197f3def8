"""The HTTP surface: JSON-RPC 2.0 POSTs at `/` (single and batch), `GET /health` (Solana's
plain-text health), CORS open to any origin as Solana's RPC is. The lifespan starts the
background market and, on shutdown, stops it and snapshots the chain."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from order_engine.domain.errors import ChainUnavailableError
from order_engine.localnet import accounts, cluster, history, transactions, tx_details
from order_engine.localnet.jsonrpc import Handler, JsonRpc
from order_engine.localnet.node import Localnet

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 50 * 1024  # Solana's limit on a request body


def methods() -> Mapping[str, Handler]:
    """Every method served, by name."""
    return {
        **cluster.METHODS,
        **accounts.METHODS,
        **transactions.METHODS,
        **tx_details.METHODS,
        **history.METHODS,
    }


class DirectRpc:
    """`POST /` without an `Origin` header (every client but a browser) straight to the
    JSON-RPC handler; anything else through Starlette. For such a request the middleware
    (CORS, the error and exception handlers) changes nothing, and it cost ~12% of the
    localnet's CPU under the benchmark's load."""

    def __init__(self, app: Starlette, call: Callable[[Request], Awaitable[Response]]) -> None:
        self.app, self._call = app, call

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/"
            and scope["method"] == "POST"
            and not any(name == b"origin" for name, _ in scope["headers"])
        ):
            try:
                response = await self._call(Request(scope, receive))
            except Exception:  # Starlette's error middleware does not run here
                log.exception("unhandled error on a JSON-RPC POST")
                response = PlainTextResponse("Internal Server Error", status_code=500)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def localnet_app(node: Localnet) -> DirectRpc:
    rpc = JsonRpc(node, methods())
    posts = [0]  # HTTP requests (a batch of calls is one)

    async def call(request: Request) -> Response:
        posts[0] += 1
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        answer = await rpc.handle(body)
        return Response(answer or b"", media_type="application/json")

    async def health(_request: Request) -> Response:
        try:
            await node.chain.slot()
        except ChainUnavailableError:
            return PlainTextResponse("unknown")
        return PlainTextResponse("ok")

    async def stats(_request: Request) -> Response:
        """How many JSON-RPC requests were answered, and in how many HTTP requests
        (benchmarks: calls and round trips per order)."""
        body = {"requests": rpc.requests, "httpRequests": posts[0], "slot": node.chain.current_slot}
        return Response(orjson.dumps(body), media_type="application/json")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        node.start()
        try:
            yield
        finally:
            await node.close()

    cors = Middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["POST", "GET"], allow_headers=["*"]
    )
    routes = [
        Route("/", call, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
    ]
    return DirectRpc(Starlette(routes=routes, middleware=[cors], lifespan=lifespan), call)


class _Announcing(uvicorn.Server):
    """A uvicorn server that prints `line` once it listens."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self.line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            print(self.line, flush=True)


async def serve(node: Localnet, host: str, port: int, log_level: str, line: str) -> None:
    """Serve `node` on `host:port` until SIGTERM/SIGINT; print `line` once listening."""
    config = uvicorn.Config(
        localnet_app(node), host=host, port=port, log_level=log_level, access_log=False,
        lifespan="on",
    )  # fmt: skip
    await _Announcing(config, line).serve()
