"""One access-log line per request (logger `order_engine.access`): method (`WS` for a
WebSocket), path without its query string (a stream's URL carries a token there), status
(a WebSocket's close code, or 101 if the client hung up first) and duration.

Wraps the whole ASGI app, so the hot paths that skip the framework are logged too; when
the logger is off for INFO, a request costs one level check."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("order_engine.access")
UNANSWERED = 500  # the app raised before answering: the server sends a 500


def enabled() -> bool:
    return log.isEnabledFor(logging.INFO)


async def logged(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `app` for one request, then log its line."""
    started = time.perf_counter()
    status = 0

    async def sending(message: Message) -> None:
        nonlocal status
        kind = message["type"]
        if kind in ("http.response.start", "websocket.http.response.start"):
            status = message["status"]
        elif kind == "websocket.accept":
            status = 101
        elif kind == "websocket.close":
            status = message.get("code", 1000)
        await send(message)

    try:
        await app(scope, receive, sending)
    finally:
        _line(scope, status or UNANSWERED, (time.perf_counter() - started) * 1000)


def _line(scope: Scope, status: int, duration_ms: float) -> None:
    method = "WS" if scope["type"] == "websocket" else scope["method"]
    path = scope["path"]
    fields: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": status,
        "durationMs": round(duration_ms, 2),
    }
    log.info("%s %s %d %.1f ms", method, path, status, duration_ms, extra={"fields": fields})
