"""What the API answers, as models for `/openapi.json`: every success body and the one
error shape, with the statuses each endpoint can give. The handlers build their bodies
as plain dicts (orjson is the hot path); the tests hold the two together by checking
live answers against this schema (Schemathesis) and the model of each order view and
event. The events, one model per status, are in `api.event_models`.

Money is a decimal string in positional notation; ids are UUIDs; times are ISO 8601 with
milliseconds (`createdAt`) or epoch milliseconds (`tsMs`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

# a decimal string such as "1.5" or "0.0000001", never "1E-7"
Money = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?$")]
Status = Literal[
    "pending", "waiting", "routing", "building", "submitted", "confirmed", "failed",
    "cancelled", "expired",
]  # fmt: skip


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str
    field: str | None = Field(default=None, description="the field the client sent, if any")


class ErrorBody(BaseModel):
    """The one error shape of the API, for every 4xx and 5xx."""

    error: ErrorDetail


# FastAPI documents a response model only under a `JSONResponse` class; the handlers
# return their own (orjson) `JsonResponse` all the same
DOCUMENTED = JSONResponse


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these error statuses, each in the one error shape."""
    return {status: {"model": ErrorBody} for status in statuses}


class Accepted(BaseModel):
    """`POST /api/orders/execute`: the order is accepted; its lifecycle streams from wsUrl."""

    orderId: str = Field(json_schema_extra={"format": "uuid"})
    wsUrl: str
    websocketUrl: str = Field(description="the same as wsUrl")
    status: Status
    clientOrderId: str | None = None


class AttemptError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    attempt: int
    tsMs: int


class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str


class LegView(BaseModel):
    """One transaction of the route (one per venue when the order is split)."""

    model_config = ConfigDict(extra="forbid")

    dex: str
    txHash: str
    amountIn: Money
    minAmountOut: Money
    attempt: int
    state: Literal["sent", "landed", "failed"]
    amountOut: Money | None = None
    executedPrice: Money | None = None
    error: Failure | None = None
    lastValidBlockHeight: int | None = Field(default=None, description="chain venues")
    slot: int | None = Field(default=None, description="chain venues: where it landed")
    fee: int | None = Field(default=None, description="chain venues: lamports")
    computeUnits: int | None = None
    hop: Literal[1, 2] | None = Field(
        default=None, description="a two-hop route: 1 sells tokenIn for `via`, 2 `via` for tokenOut"
    )
    via: str | None = Field(default=None, description="a two-hop route's intermediate token")


class OrderView(BaseModel):
    """An order with its execution: status, fill, legs, every attempt's error."""

    model_config = ConfigDict(extra="forbid")

    orderId: str = Field(json_schema_extra={"format": "uuid"})
    clientOrderId: str | None
    userId: str | None = Field(description="the label the client gave the order")
    type: Literal["market", "limit", "sniper"]
    status: Status
    tokenIn: str
    tokenOut: str
    amountIn: Money
    slippageBps: int
    maxPriceImpactBps: int | None
    wallet: str | None = Field(
        description="who pays, recorded when the order was stored: the public key of its "
        "account's wallet, or `engine` for the engine's wallet; null for an order stored "
        "before this was recorded"
    )
    attempt: int
    seq: int
    dex: str | None
    txHash: str | None
    executedPrice: Money | None
    amountOut: Money | None
    minAmountOut: Money | None
    filledAmountIn: Money
    partial: bool
    legs: list[LegView]
    error: Failure | None
    attempts: list[AttemptError]
    createdAt: str
    updatedAt: str
    wsUrl: str
    websocketUrl: str
    limitPrice: Money | None = Field(default=None, description="limit orders")
    venue: str | None = Field(default=None, description="sniper orders")
    maxPrice: Money | None = Field(default=None, description="sniper orders")
    expiresAt: str | None = Field(default=None, description="limit and sniper orders")
    bestPrice: Money | None = Field(default=None, description="limit and sniper orders")
    checkedAt: str | None = Field(default=None, description="limit and sniper orders")


class OrderPage(BaseModel):
    items: list[OrderView]
    nextCursor: str | None = Field(description="pass as `cursor` for the next page")


class VenueQuote(BaseModel):
    venue: str
    tokenIn: str
    tokenOut: str
    price: Money
    fee: Money
    amountOut: Money
    effectivePrice: Money
    feeAmount: Money
    priceImpact: str
    poolVersion: int | None
    expiresAtMs: int | None
    aheadAmountIn: SkipJsonSchema[None] | Money = Field(
        default=None,
        description="chain venues: the engine's own swaps on this pool in the same direction, "
        "signed and not yet landed (tokenIn); the quote prices the pool as they leave it",
    )


class RouteLeg(BaseModel):
    venue: str
    tokenIn: str
    tokenOut: str
    amountIn: Money
    amountOut: Money
    minAmountOut: Money


class QuoteView(BaseModel):
    """`GET /api/quote`: the route an order of this size would take now."""

    tokenIn: str
    tokenOut: str
    amountIn: Money
    slippageBps: int
    dex: str
    reason: str
    amountOut: Money
    priceImpact: str
    route: list[RouteLeg]
    quotes: list[VenueQuote]
    unavailable: dict[str, str] = Field(description="venue -> why it gave no quote")
    minAmountOut: Money = Field(description="the least the whole route may deliver")
    via: str | None = Field(
        default=None, description="a two-hop route: the intermediate token (SOL or USDC)"
    )


class LaunchView(BaseModel):
    symbol: str
    mint: str
    decimals: int
    venue: str
    quote: str
    price: Money
    depthUsd: Money
    tsMs: int


class TokenBalance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(examples=["USDC"])
    mint: str
    amount: Money = Field(description="native SOL: the wallet's lamports, in SOL")


class AccountView(BaseModel):
    """`GET /api/account`: the caller's account, its wallet and the wallet's balances read
    from the chain (every known token; 0 where the wallet holds none)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(json_schema_extra={"format": "uuid"})
    name: str
    admin: bool
    wallet: str | None = Field(
        description="the wallet's public key; null: the account has none (its orders are "
        "paid by the engine's wallet)"
    )
    balances: list[TokenBalance] = Field(description="empty without a chain (simulated venues)")


class Launches(BaseModel):
    launches: list[LaunchView]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description="dependency -> ok, or why not")
    workers: int | None = Field(default=None, description="processes with a live heartbeat")
    queueDepth: int | None = Field(default=None, description="jobs waiting, delayed or active")
