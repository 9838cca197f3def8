"""One log line per order when it ends (id, status, venue, amounts, attempts, latency) and
when a waiting order fires, waits again or expires: an `OrderStore` decorator that logs
each committed step of interest, so the engine stays unaware (and nothing is logged for a
step that did not commit). Logger `order_engine.orders`; details in `fields` (see
`order_engine.logsetup`)."""

from __future__ import annotations

import builtins
import logging
from typing import Any

from order_engine.domain.amounts import money
from order_engine.domain.orders import Order, OrderEvent, OrderStatus
from order_engine.engine.ports import Changes, OrderStore, Page

log = logging.getLogger("order_engine.orders")
S = OrderStatus
FIRST_WAIT_SEQ = 2  # pending is 1; a later `waiting` is an order waiting again


def _kind(order: Order, event: OrderEvent) -> str | None:
    """What the step means to an operator, or None when it is not worth a line."""
    if event.is_terminal:
        return event.status.value
    if not order.type.waits:
        return None
    if event.status is S.ROUTING:
        return "fired"
    if event.status is S.WAITING and event.seq > FIRST_WAIT_SEQ:
        return "waiting again"
    return None


def _fields(order: Order, event: OrderEvent, kind: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "orderId": order.id,
        "status": kind,
        "type": order.type.value,
        "tokenIn": order.token_in,
        "tokenOut": order.token_out,
        "amountIn": money(order.amount_in),
        "attempts": event.attempt,
        "latencyMs": event.ts_ms - order.created_ms,
    }
    if event.status is S.CONFIRMED:
        fields["venue"] = order.dex
        fields["amountOut"] = None if order.amount_out is None else money(order.amount_out)
        fields["executedPrice"] = (
            None if order.executed_price is None else money(order.executed_price)
        )
        fields["txHash"] = order.tx_hash
    elif order.error is not None and event.status is S.FAILED:
        fields["error"] = order.error.code
        fields["reason"] = order.error.message
    elif isinstance(event.data.get("reason"), str):
        fields["reason"] = event.data["reason"]
    return fields


def _text(f: dict[str, Any]) -> str:
    text = (
        f"order {f['orderId']} {f['status']}: {f['type']} {f['amountIn']} {f['tokenIn']}"
        f" -> {f['tokenOut']}"
    )
    if f.get("venue"):
        text += f", {f['amountOut']} out on {f['venue']}"
    if f.get("error"):
        text += f", {f['error']}: {f['reason']}"
    elif f.get("reason"):
        text += f", {f['reason']}"
    return text + f"; attempt {f['attempts']}, {f['latencyMs']} ms since accepted"


def log_step(order: Order, event: OrderEvent) -> None:
    """The line for a committed `event` of `order`, if it is worth one."""
    if not log.isEnabledFor(logging.INFO):
        return
    kind = _kind(order, event)
    if kind is None:
        return
    fields = _fields(order, event, kind)
    log.info("%s", _text(fields), extra={"fields": fields})


class LoggingOrderStore:
    """An `OrderStore` that logs the steps `log_step` picks after they commit."""

    def __init__(self, inner: OrderStore) -> None:
        self._inner = inner

    @property
    def inner(self) -> OrderStore:
        return self._inner

    async def create(self, order: Order, event: OrderEvent) -> None:
        await self._inner.create(order, event)

    async def append(self, order: Order, event: OrderEvent) -> None:
        await self._inner.append(order, event)
        log_step(order, event)

    async def save_details(self, order: Order) -> None:
        await self._inner.save_details(order)

    async def discard(self, order_id: str) -> bool:
        return await self._inner.discard(order_id)

    async def get(self, order_id: str) -> Order:
        return await self._inner.get(order_id)

    async def find_by_idempotency_key(self, key: str) -> Order | None:
        return await self._inner.find_by_idempotency_key(key)

    async def list(
        self,
        *,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
        user_id: str | None = None,
        account_id: str | None = None,
    ) -> Page:
        return await self._inner.list(
            status=status, limit=limit, cursor=cursor, user_id=user_id, account_id=account_id
        )

    async def events(self, order_id: str, after: int = 0) -> builtins.list[OrderEvent]:
        return await self._inner.events(order_id, after)

    async def latest_seqs(self, order_ids: builtins.list[str]) -> dict[str, int]:
        return await self._inner.latest_seqs(order_ids)

    async def changes(self, cursor: int | None) -> Changes:
        return await self._inner.changes(cursor)

    async def count_open(self, account_id: str) -> int:
        return await self._inner.count_open(account_id)

    async def unfinished(self, limit: int = 1000) -> builtins.list[str]:
        return await self._inner.unfinished(limit)

    async def waiting(
        self, token_in: str, token_out: str, limit: int = 1000, after: tuple[int, str] | None = None
    ) -> builtins.list[Order]:
        return await self._inner.waiting(token_in, token_out, limit, after)

    async def waiting_pairs(self) -> builtins.list[tuple[str, str]]:
        return await self._inner.waiting_pairs()

    async def ping(self) -> None:
        await self._inner.ping()

    async def close(self) -> None:
        await self._inner.close()
