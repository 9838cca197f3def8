"""The live feed of the caller's orders (every event of its account's orders; an admin's:
every order's) on one WebSocket, its token for browsers, and the queue panel's numbers.

`GET /api/events/stream` + `Upgrade: websocket`, with the key (`Authorization`) or a feed
token (`token=`, from `POST /api/events/token`), and `after=<feed id>` to resume. Messages:
`{"type": "hello", "gap", "accountId", "admin"}` once the feed is live (`gap`: events after
`after` are no longer held, re-read the orders), then `{"type": "event", "id", "order",
"event"}` per event (`order`: the order's summary; `id`: resume after it). The socket stays
open; close codes as the order stream's (4400 a malformed `after`, 4401 no valid key or
token, 1013 a dependency is down, 1012 the server restarts).

A WebSocket rather than Server-Sent Events: uvicorn waits for every open HTTP response
before it stops, so a never-ending SSE response would hold a restart; it closes WebSockets
(1012) at once."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.websockets import WebSocket, WebSocketDisconnect

from order_engine.api.auth import Reader, feed_viewer
from order_engine.api.context import ApiContext, context_of
from order_engine.api.errors import HttpError
from order_engine.api.jsonresp import JsonResponse
from order_engine.api.models import DOCUMENTED, errors
from order_engine.api.schemas import iso_ms
from order_engine.api.stream import CLOSE_INTERNAL, CLOSE_RESTART, close_for, close_quietly
from order_engine.domain.accounts import Principal
from order_engine.domain.amounts import money
from order_engine.domain.errors import EngineError, RequestError
from order_engine.engine.feed import FeedItem, FeedView, OrderSummary

router = APIRouter(prefix="/api", tags=["live feed"])
FEED_PATH = "/api/events/stream"


class FeedToken(BaseModel):
    """`POST /api/events/token`: opens the caller's feed (`url`) until `expiresAtMs`."""

    token: str
    expiresAtMs: int
    url: str = Field(description="the feed's WebSocket URL with the token")
    accountId: str | None
    admin: bool = Field(description="the feed has every account's orders")
    scope: str | None


class RateLimitView(BaseModel):
    max: int = Field(description="orders started per window (0: no limit)")
    windowS: float
    startedInWindow: int = Field(description="orders that started executing in the window")
    limited: bool = Field(description="the window's starts are used up and orders wait")


class QueueView(BaseModel):
    """`GET /api/queue`: the queue panel. Counts from the feed of every order's events this
    process has seen since `since` (so they cover every worker)."""

    depth: int | None = Field(description="jobs waiting, delayed or active")
    workers: int | None = Field(description="worker processes with a live heartbeat")
    concurrency: int = Field(description="orders in flight per worker, at most")
    inFlight: int = Field(description="orders routing, building or submitted")
    rateLimit: RateLimitView
    finishedLastMinute: int = Field(description="orders that ended in the last 60 s")
    since: str


@router.post(
    "/events/token",
    response_model=FeedToken,
    response_class=DOCUMENTED,
    responses=errors(401, 403),
    summary="A short-lived token that opens the caller's live feed (for browsers)",
)
async def feed_token(request: Request, caller: Reader) -> Response:
    """The feed token acts for the key that asked, until `STREAM_TOKEN_TTL_S`; it only
    opens the feed (`GET /api/events/stream?token=`)."""
    ctx = context_of(request)
    if ctx.access is None or caller is None:
        raise HttpError(404, "not_found", "this server has no access control: no token needed")
    token, expires_ms = ctx.access.feed_token(caller)
    scheme, _, rest = ctx.public_base_url.partition("://")
    ws_scheme = {"https": "wss", "http": "ws"}.get(scheme, scheme)
    body = {
        "token": token,
        "expiresAtMs": expires_ms,
        "url": f"{ws_scheme}://{rest}{FEED_PATH}?token={token}",
        **_who(caller),
    }
    return JsonResponse(body)


@router.get(
    "/events/stream",
    summary="WebSocket: every event of the caller's orders, live (see the README)",
    status_code=426,
    response_class=DOCUMENTED,
    responses=errors(426),
    description="A WebSocket: with `Upgrade: websocket`, the key or `?token=` (from `POST "
    "/api/events/token`) and optionally `&after=<feed id>`, a `hello` message, then one "
    "`{type: event, id, order, event}` message per event of the orders the caller may see. "
    "A plain GET is answered 426.",
)
async def feed_needs_upgrade() -> Response:
    raise HttpError(
        426,
        "upgrade_required",
        f"connect with a WebSocket: GET {FEED_PATH} with Upgrade: websocket",
    )


@router.websocket("/events/stream")
async def feed_socket(websocket: WebSocket) -> None:
    ctx: ApiContext = websocket.app.state.ctx
    await websocket.accept()
    try:
        query = websocket.query_params
        auth = websocket.headers.get("authorization")
        viewer = await feed_viewer(ctx.access, auth, query.get("token"))
        code, reason = await _serve(ctx, websocket, viewer, query.get("after"))
    except EngineError as exc:
        code, reason = close_for(exc)
    except WebSocketDisconnect:
        return
    await close_quietly(websocket, code, reason)


async def _serve(
    ctx: ApiContext, websocket: WebSocket, viewer: Principal | None, after: str | None
) -> tuple[int, str]:
    """The hello, then the feed until the client goes away (WebSocketDisconnect) or the
    feed ends (the server is stopping: 1012, come back later)."""
    if ctx.feed is None:
        return CLOSE_INTERNAL, "this process has no feed"
    async with contextlib.AsyncExitStack() as stack:
        try:
            view = await stack.enter_async_context(ctx.feed.follow(viewer, after))
        except ValueError as exc:
            raise RequestError("after must be a feed id (<ms>-<n>)", field="after") from exc
        hello = {"type": "hello", "gap": view.gap, **_who(viewer)}
        await websocket.send_text(orjson.dumps(hello).decode())
        await _pump(websocket, view)
    return CLOSE_RESTART, "the server is stopping; reconnect with after=<the last id>"


async def _pump(websocket: WebSocket, view: FeedView) -> None:
    """Send items until the feed ends; WebSocketDisconnect when the client goes away."""
    send = asyncio.ensure_future(_send_all(websocket, view))
    watch = asyncio.ensure_future(_until_disconnect(websocket))
    try:
        done, _ = await asyncio.wait({send, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (send, watch):
            task.cancel()
        await asyncio.gather(send, watch, return_exceptions=True)
    if send not in done:
        raise WebSocketDisconnect(1000)
    send.result()  # engine errors give the close code


async def _send_all(websocket: WebSocket, view: FeedView) -> None:
    async for item in view:
        await websocket.send_text(orjson.dumps(item_message(item)).decode())


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def item_message(item: FeedItem) -> dict[str, Any]:
    return {
        "type": "event",
        "id": item.id,
        "order": summary_view(item.order),
        "event": item.event.as_dict(),
    }


def summary_view(summary: OrderSummary) -> dict[str, Any]:
    return {
        "orderId": summary.order_id,
        "accountId": summary.account_id,
        "type": summary.type,
        "tokenIn": summary.token_in,
        "tokenOut": summary.token_out,
        "amountIn": money(summary.amount_in),
        "createdAt": iso_ms(summary.created_ms),
        "userId": summary.user_id,
        "clientOrderId": summary.client_order_id,
    }


def _who(viewer: Principal | None) -> dict[str, Any]:
    if viewer is None:
        return {"accountId": None, "admin": True, "scope": None}
    return {"accountId": viewer.account_id, "admin": viewer.admin, "scope": viewer.scope.value}


@router.get(
    "/queue",
    response_model=QueueView,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 503),
    summary="The queue: depth, live workers, orders in flight, rate limit, throughput",
)
async def queue(request: Request, _caller: Reader) -> Response:
    ctx = context_of(request)
    if ctx.queue_activity is None:
        raise HttpError(503, "unavailable", "this process does not report its queue")
    return JsonResponse(await ctx.queue_activity())
