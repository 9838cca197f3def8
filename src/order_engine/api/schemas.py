"""Request parsing and response views (the wire format is camelCase; money is strings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, ValidationError

from order_engine.api.jsonbody import parse_json_object
from order_engine.api.validation import MAX_SLIPPAGE_BPS, decimal_field, first_error
from order_engine.domain.amounts import money
from order_engine.domain.errors import RequestError
from order_engine.domain.orders import Order, OrderEvent, OrderStatus, OrderType
from order_engine.domain.quotes import plain
from order_engine.engine.requests import OrderRequest

__all__ = ["MAX_SLIPPAGE_BPS", "Amount", "ExecuteOrderBody", "first_error", "parse_execute_body"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Amount = Annotated[Decimal, BeforeValidator(decimal_field)]


class ExecuteOrderBody(BaseModel):
    """`POST /api/orders/execute`. `amount` is an alias of `amountIn`, `orderType` of
    `type`."""

    model_config = ConfigDict(extra="forbid")

    tokenIn: str = Field(min_length=1, max_length=16, examples=["SOL"])
    tokenOut: str = Field(min_length=1, max_length=16, examples=["USDC"])
    amountIn: Amount | None = Field(default=None, examples=["1.5"])
    amount: Amount | None = Field(default=None, description="alias of amountIn")
    slippageBps: StrictInt = Field(default=50, ge=0, le=MAX_SLIPPAGE_BPS)
    type: Literal["market", "limit", "sniper"] | None = Field(default=None, examples=["market"])
    orderType: Literal["market", "limit", "sniper"] | None = Field(
        default=None, description="alias of type (default market)"
    )
    clientOrderId: str | None = Field(default=None, min_length=1, max_length=64)
    userId: str | None = Field(
        default=None, min_length=1, max_length=64, description="your label; list orders by it"
    )
    limitPrice: Amount | None = Field(
        default=None, description="limit orders: least tokenOut per tokenIn, after fees"
    )
    timeInForceSeconds: StrictInt | None = Field(
        default=None, description="limit orders: expire this many seconds after acceptance"
    )
    expiresAt: str | None = Field(
        default=None,
        max_length=40,
        description="limit orders: or expire at this ISO 8601 time with a zone",
    )
    venue: str | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="sniper orders: the venue whose pool to wait for, or any",
    )
    maxPrice: Amount | None = Field(
        default=None, description="sniper orders: most tokenIn paid per tokenOut"
    )
    maxPriceImpactBps: StrictInt | None = Field(
        default=None,
        description="the most this order may move the price, in basis points (default: the "
        "engine's MAX_PRICE_IMPACT_BPS; at most its MAX_PRICE_IMPACT_CAP_BPS)",
    )

    def to_request(self) -> OrderRequest:
        if self.type is not None and self.orderType is not None and self.type != self.orderType:
            raise RequestError("type and its alias orderType disagree", field="orderType")
        if self.amountIn is not None and self.amount is not None:
            raise RequestError("give amountIn or its alias amount, not both", field="amount")
        amount, amount_field = self.amountIn, "amountIn"
        if self.amount is not None:
            amount, amount_field = self.amount, "amount"
        if amount is None:
            raise RequestError("amountIn is required", field="amountIn")
        return OrderRequest(
            token_in=self.tokenIn,
            token_out=self.tokenOut,
            amount_in=amount,
            slippage_bps=self.slippageBps,
            type=OrderType(self.type or self.orderType or "market"),
            client_order_id=self.clientOrderId,
            user_id=self.userId,
            limit_price=self.limitPrice,
            time_in_force_s=self.timeInForceSeconds,
            expires_at_ms=None if self.expiresAt is None else _epoch_ms(self.expiresAt),
            venue=None if self.venue is None else self.venue.lower(),
            max_price=self.maxPrice,
            max_price_impact_bps=self.maxPriceImpactBps,
            amount_field=amount_field,
        )


def _epoch_ms(text: str) -> int:
    """ISO 8601 with a zone (e.g. 2026-11-25T18:00:00Z) → epoch milliseconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RequestError(
            "expiresAt must be an ISO 8601 time, e.g. 2026-11-25T18:00:00Z", field="expiresAt"
        ) from exc
    if moment.tzinfo is None:
        raise RequestError("expiresAt needs a time zone (e.g. Z)", field="expiresAt")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def parse_execute_body(raw: bytes) -> OrderRequest:
    """Bytes → validated `OrderRequest`; numbers keep their exact decimal value."""
    data = parse_json_object(raw)
    try:
        body = ExecuteOrderBody.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from exc
    return body.to_request()


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else money(value)


def order_view(order: Order, ws_url: str) -> dict[str, Any]:
    return {
        "orderId": order.id,
        "clientOrderId": order.client_order_id,
        "userId": order.user_id,
        "type": order.type.value,
        "status": order.status.value,
        "tokenIn": order.token_in,
        "tokenOut": order.token_out,
        "amountIn": money(order.amount_in),
        "slippageBps": order.slippage_bps,
        "maxPriceImpactBps": order.max_price_impact_bps,
        "wallet": order.wallet,
        "attempt": order.attempt,
        "seq": order.seq,
        "dex": order.dex,
        "txHash": order.tx_hash,
        "executedPrice": order.shown_price(order.executed_price),
        "amountOut": _money(order.amount_out),
        "minAmountOut": _money(order.min_amount_out),
        **_fill_view(order),
        **_limit_view(order),
        "error": None
        if order.error is None
        else {"code": order.error.code, "message": order.error.message},
        "attempts": [e.as_dict() for e in order.attempt_errors],
        "createdAt": iso_ms(order.created_ms),
        "updatedAt": iso_ms(order.updated_ms),
        "wsUrl": ws_url,
        "websocketUrl": ws_url,  # the same, under the name other clients of this API use
    }


def _limit_view(order: Order) -> dict[str, Any]:
    """A waiting order's terms and its last price check (absent on market orders)."""
    if not order.type.waits:
        return {}
    view = {
        "expiresAt": None if order.expires_ms is None else iso_ms(order.expires_ms),
        "bestPrice": order.shown_price(order.best_price),
        "checkedAt": None if order.checked_ms is None else iso_ms(order.checked_ms),
    }
    if order.type is OrderType.LIMIT:
        return {"limitPrice": _money(order.limit_price), **view}
    return {"venue": order.venue or "any", "maxPrice": _money(order.max_price), **view}


def _fill_view(order: Order) -> dict[str, Any]:
    """What the route's legs filled so far (`partial` once confirmed short of the amount)."""
    fill = order.fill
    return {
        "filledAmountIn": plain(fill.amount_in),
        "partial": order.status is OrderStatus.CONFIRMED and fill.amount_in < order.amount_in,
        "legs": order.legs_view(),
    }


def event_view(event: OrderEvent) -> dict[str, Any]:
    return event.as_dict()
