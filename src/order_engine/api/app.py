"""The FastAPI application: routes, error handlers, health, readiness and metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from importlib import metadata
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import State
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from order_engine.api import access
from order_engine.api.account import router as account_router
from order_engine.api.admin import router as admin_router
from order_engine.api.chain import router as chain_router
from order_engine.api.context import ApiContext, context_of
from order_engine.api.dashboard import assets, page, prefers_html
from order_engine.api.errors import error_body, install_error_handlers
from order_engine.api.feed import router as feed_router
from order_engine.api.jsonresp import JsonResponse
from order_engine.api.models import DOCUMENTED, Health, Readiness
from order_engine.api.openapi import truthful
from order_engine.api.orders import EXECUTE_PATH, submit_response
from order_engine.api.orders import router as orders_router
from order_engine.api.stream import serve_order_socket
from order_engine.api.validation import query_error

log = logging.getLogger(__name__)
VERSION = metadata.version("order-engine")
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class HotPaths:
    """The ASGI app: serves the two per-order hot paths — `POST /api/orders/execute` and
    its WebSocket — straight from the shared handlers, without the framework's routing
    and dependency injection (measured: they cost more than the engine's own work per
    order); everything else, lifespan included, goes to FastAPI. The middleware stack
    (the access log, CORS when `cors_origins` is set) wraps both, so every path has it."""

    def __init__(self, app: FastAPI, cors_origins: Sequence[str] = ()) -> None:
        self.fastapi = app
        self._entry: ASGIApp = self._route
        if cors_origins:
            self._entry = CORSMiddleware(
                self._route,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Content-Type", "Idempotency-Key", "Authorization"],
                expose_headers=["Location", "Idempotent-Replayed", "Retry-After"],
            )

    @property
    def state(self) -> State:
        return self.fastapi.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and access.enabled():
            await access.logged(self._entry, scope, receive, send)
        elif scope["type"] == "websocket" and scope["path"] == EXECUTE_PATH:
            # an order stream, from here: one frame less in each open stream's task (CORS
            # has nothing to do with a WebSocket)
            await serve_order_socket(self.fastapi.state.ctx, WebSocket(scope, receive, send))
        else:
            await self._entry(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and scope["path"] == EXECUTE_PATH:
            ctx: ApiContext = self.fastapi.state.ctx
            if scope["type"] == "websocket":
                await serve_order_socket(ctx, WebSocket(scope, receive, send))
                return
            if scope["method"] == "POST":
                try:
                    response = await submit_response(ctx, Request(scope, receive))
                except Exception:  # the framework's handlers do not run here
                    log.exception("unhandled error on POST %s", EXECUTE_PATH)
                    response = JsonResponse(
                        error_body("internal_error", "internal error"), status_code=500
                    )
                await response(scope, receive, send)
                return
        await self.fastapi(scope, receive, send)


def _documented(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi`, corrected where FastAPI cannot see what the handlers do."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(FastAPI.openapi(app))
        return app.openapi_schema

    return openapi


def create_app(
    lifespan: Lifespan, ctx: ApiContext | None = None, *, cors_origins: Sequence[str] = ()
) -> HotPaths:
    """The app; `lifespan` (or the caller) sets `app.state.ctx` to an `ApiContext`."""
    app = FastAPI(
        title="order-engine",
        summary="Order execution engine for Solana DEX swaps (Raydium CPMM and Meteora DLMM)",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=JsonResponse,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        redirect_slashes=False,  # its redirect's Location is built from the Host header
    )
    if ctx is not None:
        app.state.ctx = ctx
    install_error_handlers(app)
    app.openapi = _documented(app)  # type: ignore[method-assign]
    app.add_exception_handler(RequestValidationError, query_error)
    app.include_router(orders_router)
    app.include_router(admin_router)
    app.include_router(chain_router)
    app.include_router(account_router)
    app.include_router(feed_router)

    @app.get(
        "/health", tags=["ops"], summary="Alive", response_model=Health, response_class=DOCUMENTED
    )
    async def health() -> Response:
        return JsonResponse({"status": "ok"})

    @app.get(
        "/ready",
        tags=["ops"],
        summary="Dependencies up; a live worker for queued orders",
        response_model=Readiness,
        response_class=DOCUMENTED,
        responses={503: {"model": Readiness, "description": "not ready: `checks` says why"}},
    )
    async def ready(request: Request) -> Response:
        report = await context_of(request).readiness()
        ok = all(v == "ok" for v in report["checks"].values())
        return JsonResponse(
            {"status": "ready" if ok else "unavailable", **report},
            status_code=200 if ok else 503,
        )

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics (text exposition format 0.0.4)",
        response_class=PlainTextResponse,
    )
    async def metrics(request: Request) -> Response:
        body = await context_of(request).metrics()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> Response:
        return page()

    @app.get("/", tags=["ops"], include_in_schema=False)
    async def root(request: Request) -> Response:
        """The dashboard for a browser; the service's name for any other client."""
        if prefers_html(request.headers.get("accept")):
            return page()
        return JsonResponse(
            {
                "service": "order-engine",
                "version": VERSION,
                "docs": "/docs",
                "openapi": "/openapi.json",
                "submit": "POST /api/orders/execute",
                "dashboard": "/dashboard",
            },
            headers={"Vary": "Accept"},
        )

    app.mount("/static", assets(), name="static")

    return HotPaths(app, cors_origins)
