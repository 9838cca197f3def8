"""A minimal HTTP endpoint for a worker process's Prometheus metrics (`order-engine
worker --metrics-port N`): `GET /metrics` answers the metrics, anything else 404. A worker
has no web framework; this is a few lines of asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
HEAD_LIMIT = 8192
READ_TIMEOUT_S = 5.0


async def serve_metrics(
    render: Callable[[], Awaitable[bytes]], host: str, port: int
) -> asyncio.Server:
    """Listen on `host:port`; each `GET /metrics` answers `await render()`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            status, body = await _respond(head[:HEAD_LIMIT], render)
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + CONTENT_TYPE
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that went away or sent nonsense
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port, limit=HEAD_LIMIT)


async def _respond(head: bytes, render: Callable[[], Awaitable[bytes]]) -> tuple[bytes, bytes]:
    method, _, rest = head.partition(b" ")
    path = rest.partition(b" ")[0].partition(b"?")[0]
    if method != b"GET" or path != b"/metrics":
        return b"404 Not Found", b"not found: GET /metrics\n"
    try:
        return b"200 OK", await render()
    except Exception as exc:  # e.g. Redis down while reading the queue depth
        log.warning("worker metrics unavailable: %s", getattr(exc, "message", repr(exc)))
        return b"503 Service Unavailable", b"metrics unavailable\n"
