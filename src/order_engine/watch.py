"""`order-engine watch`: print an order's lifecycle events as JSON lines until it closes."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from order_engine.client_key import auth_headers


def ws_url_for(target: str, base_url: str, after: int | None) -> str:
    """A `ws://` URL as given, or the stream URL of an order id on `base_url`."""
    if target.startswith(("ws://", "wss://")):
        url = target
    else:
        base = base_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        ws_scheme = "wss" if scheme == "https" else "ws"
        url = f"{ws_scheme}://{rest}/api/orders/execute?orderId={target}"
    if after is not None:
        url += f"&after={after}"
    return url


async def _watch(url: str, headers: dict[str, str]) -> int:
    async with connect(url, additional_headers=headers) as ws:
        async for message in ws:
            text = message if isinstance(message, str) else message.decode()
            print(text, flush=True)
        code, reason = ws.close_code, ws.close_reason
    if code != 1000:
        print(f"order-engine: stream closed with {code}: {reason}", file=sys.stderr)
        return 1
    return 0


def watch(target: str, base_url: str, after: int | None, key: str | None = None) -> int:
    """A `wsUrl` opens with its own token; an order id, with the API key."""
    url = ws_url_for(target, base_url, after)
    headers = {} if "token=" in url else auth_headers(key)
    try:
        return asyncio.run(_watch(url, headers))
    except (OSError, WebSocketException) as exc:
        print(f"order-engine: cannot stream {url}: {exc}", file=sys.stderr)
        return 1
