"""What the API needs from the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from order_engine.engine.feed import OrderFeed
from order_engine.engine.launches import TokenLaunches
from order_engine.engine.service import OrderService
from order_engine.engine.wallets import AccountWallets

if TYPE_CHECKING:
    from order_engine.api.auth import Access


@dataclass(frozen=True, slots=True)
class ApiContext:
    service: OrderService
    public_base_url: str  # from settings, never from request headers
    max_body_bytes: int
    # {"checks": {dependency: "ok" or why not}, "workers": live, "queueDepth": depth}
    readiness: Callable[[], Awaitable[dict[str, Any]]]
    metrics: Callable[[], Awaitable[bytes]]
    launches: TokenLaunches | None = None
    # the chain (None with the simulated venues): a transaction as the chain knows it
    # (None: unknown signature), and every pool on it with the slot read
    chain_tx: Callable[[str], Awaitable[dict[str, Any] | None]] | None = None
    chain_pools: Callable[[], Awaitable[dict[str, Any]]] | None = None
    access: Access | None = None  # None: no access control (unit tests' apps)
    wallets: AccountWallets | None = None  # accounts' wallets: balances, funding
    feed: OrderFeed | None = None  # the live feed of the orders a caller may see
    # the queue panel: depth, live workers, in flight, rate limit, throughput
    queue_activity: Callable[[], Awaitable[dict[str, Any]]] | None = None

    def ws_url(self, order_id: str) -> str:
        """The order's stream; with access control, with a short-lived token that opens
        this order's stream only (a browser cannot send a key on a WebSocket)."""
        base = self.public_base_url
        scheme, _, rest = base.partition("://")
        ws_scheme = {"https": "wss", "http": "ws"}.get(scheme, scheme)
        url = f"{ws_scheme}://{rest}/api/orders/execute?orderId={order_id}"
        if self.access is not None:
            url += f"&token={self.access.stream_token(order_id)}"
        return url


def context_of(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def context_dependency(request: Request) -> ApiContext:
    """`context_of` for `Depends` (async, so FastAPI does not hop to a thread for it)."""
    return context_of(request)
