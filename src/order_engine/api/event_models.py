"""The lifecycle events as the API sends them (JSON, Server-Sent Events, WebSocket): one
model per status, `OrderEvent` the union of them told apart by `status`. Each mirrors the
payload that builds it (`domain.event_payloads`) field for field; no model takes a field
it does not name, and a field every event of its status carries is required.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic.json_schema import SkipJsonSchema

from order_engine.api.models import AttemptError, Failure, LegView, Money, VenueQuote

# a field sent only in some events of its status: absent, never null
Absent = SkipJsonSchema[None]
SNIPER_TERMS = ("token", "venue", "maxPrice")


class _Event(BaseModel):
    """What every event carries."""

    model_config = ConfigDict(extra="forbid")

    orderId: str = Field(json_schema_extra={"format": "uuid"})
    seq: int = Field(ge=1, description="1, 2, 3... per order")
    tsMs: int = Field(description="epoch milliseconds")
    attempt: int = Field(ge=0, description="the attempt this event belongs to (0: none yet)")


class ActorView(BaseModel):
    """Who made the change through the API: the account and the id of the key it used."""

    model_config = ConfigDict(extra="forbid")

    accountId: str
    keyId: str


ACTOR = "the account and key that made this change (the audit trail)"


class PendingEvent(_Event):
    """Accepted."""

    status: Literal["pending"]
    actor: ActorView | Absent = Field(default=None, description=ACTOR)


class WaitingEvent(_Event):
    """A limit or sniper order waits for its price (or its token's pool), with its terms:
    `limitPrice` (limit orders) or `token`, `venue` and `maxPrice` (sniper orders). Prices
    are tokenOut per tokenIn, a sniper order's tokenIn per tokenOut."""

    status: Literal["waiting"]
    bestPrice: Money | None = Field(description="the best route's price at the last check")
    expiresAtMs: int | None
    checkEveryS: float = Field(description="how often waiting orders are re-checked")
    limitPrice: Money | None = Field(default=None, description="limit orders")
    token: str | Absent = Field(default=None, description="sniper orders: the token awaited")
    venue: str | Absent = Field(default=None, description="sniper orders: its venue, or any")
    maxPrice: Money | None = Field(default=None, description="sniper orders")
    reason: str | Absent = Field(
        default=None, description="waiting again: why the fired order did not execute"
    )

    @model_validator(mode="after")
    def _terms_of_one_order_type(self) -> Self:
        limit = "limitPrice" in self.model_fields_set
        sniper = [name for name in SNIPER_TERMS if name in self.model_fields_set]
        if limit == bool(sniper) or (sniper and len(sniper) < len(SNIPER_TERMS)):
            raise ValueError("a waiting event has limitPrice, or token, venue and maxPrice")
        return self


class RoutingEvent(_Event):
    """Quoting every venue."""

    status: Literal["routing"]


HELD = "a two-hop route whose second hop did not sell all the first bought: what is held"


class Held(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str
    amount: Money


class RouteShare(BaseModel):
    """A leg of the chosen route: what it sells on its venue and returns."""

    model_config = ConfigDict(extra="forbid")

    venue: str
    tokenIn: str = Field(description="what this leg sells (a two-hop route: per hop)")
    tokenOut: str
    amountIn: Money
    amountOut: Money


class BuildingEvent(_Event):
    """The routing decision (every venue's quote and why this route) and the least output
    the route accepts (from slippageBps, and the order's limit)."""

    status: Literal["building"]
    dex: str = Field(description="the venue, or venues joined by + when split")
    reason: str
    amountOut: Money = Field(description="the route's quoted output, after fees")
    priceImpact: Money = Field(description="a fraction, fee excluded")
    route: list[RouteShare] = Field(min_length=1)
    quotes: list[VenueQuote]
    unavailable: dict[str, str] = Field(description="venue -> why it gave no quote")
    minAmountOut: Money = Field(description="the least the whole route may deliver")
    via: str | Absent = Field(
        default=None, description="a two-hop route: the intermediate token (SOL or USDC)"
    )


class SubmittedLeg(LegView):
    steps: list[str] = Field(description="what its transaction does, in order")


class SubmittedEvent(_Event):
    """Every leg signed and recorded before it is sent; `txHash` and `steps` are the first
    leg's."""

    status: Literal["submitted"]
    txHash: str
    dex: str
    minAmountOut: Money
    steps: list[str]
    legs: list[SubmittedLeg] = Field(min_length=1)


class ConfirmedEvent(_Event):
    """What the route filled: all of amountIn, or (attempts spent) a part of it
    (`partial`, with `unfilledAmountIn`); `legs` is every leg of the order."""

    status: Literal["confirmed"]
    txHash: str
    dex: str
    executedPrice: Money
    amountOut: Money
    minAmountOut: Money
    filledAmountIn: Money
    partial: bool
    legs: list[LegView] = Field(min_length=1)
    unfilledAmountIn: Money | Absent = Field(default=None, description="partial fills")
    held: list[Held] | Absent = Field(default=None, description=HELD)


class FailedEvent(_Event):
    """Why the order failed, every attempt's error, and its legs (if it sent any)."""

    status: Literal["failed"]
    error: Failure
    attempts: list[AttemptError]
    legs: list[LegView] | Absent = Field(default=None, description="orders that sent legs")
    held: list[Held] | Absent = Field(default=None, description=HELD)


class CancelledEvent(_Event):
    status: Literal["cancelled"]
    reason: str
    actor: ActorView | Absent = Field(default=None, description=ACTOR)


class ExpiredEvent(_Event):
    """A waiting order's time in force ran out."""

    status: Literal["expired"]
    reason: str
    expiresAtMs: int | None


OrderEvent = Annotated[
    PendingEvent | WaitingEvent | RoutingEvent | BuildingEvent | SubmittedEvent
    | ConfirmedEvent | FailedEvent | CancelledEvent | ExpiredEvent,
    Field(discriminator="status"),
]  # fmt: skip
EVENT = TypeAdapter[OrderEvent](OrderEvent)


class OrderEvents(BaseModel):
    """`GET /api/orders/{id}/events` as JSON."""

    orderId: str
    events: list[OrderEvent]
