"""Lifecycle streams: the WebSocket on `/api/orders/execute` and Server-Sent Events.

WebSocket close codes: 1000 after the terminal event, 4400 malformed `orderId`/`after`,
4401 no valid key or stream token (an expired token), 4403 a token for another order or a
key without the read scope, 4404 unknown order (or another account's), 1013 a dependency
is unavailable (try again later), 1011 internal. The stream opens with an API key
(`Authorization` header) or the order's stream token (`token=`, in its `wsUrl`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import orjson
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import Headers, QueryParams
from starlette.types import Scope
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from order_engine.api.auth import stream_viewer
from order_engine.api.context import ApiContext
from order_engine.api.server import WATCH_DISCONNECT, WatchDisconnect
from order_engine.api.validation import parse_after
from order_engine.domain.errors import (
    DependencyUnavailableError,
    EngineError,
    ForbiddenError,
    OrderNotFoundError,
    RequestError,
    UnauthenticatedError,
)
from order_engine.domain.orders import OrderEvent
from order_engine.engine.service import parse_order_id

log = logging.getLogger(__name__)

CLOSE_NORMAL, CLOSE_INTERNAL, CLOSE_RESTART, CLOSE_TRY_LATER = 1000, 1011, 1012, 1013
CLOSE_BAD_REQUEST, CLOSE_NOT_FOUND = 4400, 4404
CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN = 4401, 4403


def close_for(exc: EngineError) -> tuple[int, str]:
    if isinstance(exc, RequestError):
        return CLOSE_BAD_REQUEST, exc.message
    if isinstance(exc, OrderNotFoundError):
        return CLOSE_NOT_FOUND, "order not found"
    if isinstance(exc, UnauthenticatedError):
        return CLOSE_UNAUTHENTICATED, exc.message
    if isinstance(exc, ForbiddenError):
        return CLOSE_FORBIDDEN, exc.message
    if isinstance(exc, DependencyUnavailableError):
        return CLOSE_TRY_LATER, "a dependency is unavailable; reconnect later"
    return CLOSE_INTERNAL, "internal error"


async def serve_order_socket(ctx: ApiContext, websocket: WebSocket) -> None:
    """Replay every event so far, then live ones; close 1000 after the terminal event; stop
    early if the client goes away. The sending runs in the connection's task, and an idle
    stream holds no event and no frame while it waits for the next (thousands sit idle)."""
    await websocket.accept()
    hangup = _Hangup(websocket)
    try:
        order_id, after = await _opened(ctx, websocket.scope)
        hangup.watch(websocket)
        events = ctx.service.stream(order_id, after)
        try:
            async for event in events:
                await websocket.send_text(_frame(event).decode())
                del event
        finally:
            await events.aclose()
        code, reason = CLOSE_NORMAL, "order reached a terminal status"
    except EngineError as exc:
        code, reason = close_for(exc)
    except WebSocketDisconnect:
        return
    except asyncio.CancelledError:
        if hangup.gone and hangup.sender.uncancel() == 0:
            return  # the client went away
        raise
    finally:
        hangup.unwatch()
    await close_quietly(websocket, code, reason)


async def _opened(ctx: ApiContext, scope: Scope) -> tuple[str, int]:
    """The order and the seq to stream after, once the caller may read that order. What
    the handshake carried is read here and let go of: an open stream keeps none of it."""
    query = QueryParams(scope["query_string"])
    order_id = parse_order_id(query.get("orderId"))
    after = parse_after(query.get("after"))
    auth = Headers(scope=scope).get("authorization")
    viewer, by_token = await stream_viewer(ctx.access, auth, query.get("token"), order_id)
    if not by_token:
        await ctx.service.get(order_id, viewer)  # another account's order: 4404
    scope["headers"] = []  # read: the stream needs no header again
    return order_id, after


async def close_quietly(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with `code` and `reason`, unless either side has gone already."""
    if (
        websocket.application_state is not WebSocketState.DISCONNECTED
        and websocket.client_state is not WebSocketState.DISCONNECTED
    ):
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason)


class _Hangup:
    """Cancels the sending task (`sender`, the current one) if the client goes away while
    it sends (`gone`). Told by the server (`WATCH_DISCONNECT`, our uvicorn protocol), else
    by one more task that reads until the disconnect."""

    __slots__ = ("_server_watch", "_task", "gone", "sender", "sending")

    def __init__(self, websocket: WebSocket) -> None:
        sender = asyncio.current_task()
        assert sender is not None
        self.sender, self.gone, self.sending = sender, False, False
        extensions = websocket.scope.get("extensions") or {}
        self._server_watch: WatchDisconnect | None = extensions.get(WATCH_DISCONNECT)
        self._task: asyncio.Task[None] | None = None

    def watch(self, websocket: WebSocket) -> None:
        self.sending = True
        if self._server_watch is not None:
            self._server_watch(self)
        else:
            self._task = asyncio.create_task(_until_disconnect(websocket))
            self._task.add_done_callback(self._watch_done)

    def unwatch(self) -> None:
        """The sending is over (the close may be under way): a disconnect is no hang-up."""
        self.sending = False
        if self._server_watch is not None:
            self._server_watch(None)
        elif self._task is not None:
            self._task.cancel()

    def __call__(self) -> None:
        if self.sending:
            self.gone = True
            self.sender.cancel()

    def _watch_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: a receive that failed is a disconnect too
            self()


def _frame(event: OrderEvent) -> bytes:
    return orjson.dumps(event.as_dict())


async def _until_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def wants_sse(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


async def sse_response(
    ctx: ApiContext, order_id: str, request: Request, after: int
) -> StreamingResponse:
    """Server-Sent Events: `id` is the seq, so `Last-Event-ID` resumes after it. Opens
    with an API key or the order's stream token (`token=`), as the WebSocket does."""
    last_id = request.headers.get("last-event-id")
    if last_id is not None:
        after = max(after, parse_after(last_id, "Last-Event-ID"))
    auth, token = request.headers.get("authorization"), request.query_params.get("token")
    viewer, _ = await stream_viewer(ctx.access, auth, token, parse_order_id(order_id))
    order = await ctx.service.get(order_id, viewer)  # 404 before the stream starts

    async def frames() -> AsyncIterator[bytes]:
        async for event in ctx.service.stream(order.id, after):
            yield b"id: %d\nevent: %s\ndata: %s\n\n" % (
                event.seq,
                event.status.value.encode(),
                _frame(event),
            )

    return StreamingResponse(
        frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
