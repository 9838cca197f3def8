"""A small valid payload of every status, for tests that walk an order through its
lifecycle (`Order.apply` takes the status's payload), and `with_data` for store tests
that round-trip arbitrary event data."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from order_engine.domain.event_payloads import (
    Building,
    Cancelled,
    Confirmed,
    EventPayload,
    Expired,
    Failed,
    LimitTerms,
    Pending,
    Routing,
    SentLeg,
    Submitted,
    Waiting,
)
from order_engine.domain.legs import Leg
from order_engine.domain.orders import OrderError, OrderEvent, OrderStatus
from order_engine.domain.quotes import Quote, RoutingDecision

S = OrderStatus
QUOTE = Quote(
    "raydium", "SOL", "USDC", Decimal("1.5"), Decimal("150"), Decimal("0.0025"), Decimal("223.875")
)
SENT = Leg("raydium", "5sig", Decimal("1.5"), Decimal("222"), 1)
LANDED = SENT.landed(Decimal("223.875"))
SAMPLES: dict[OrderStatus, EventPayload] = {
    S.PENDING: Pending(),
    S.WAITING: Waiting(Decimal("149.5"), 9_000_000, 2.0, LimitTerms(Decimal("150"))),
    S.ROUTING: Routing(),
    S.BUILDING: Building(RoutingDecision(QUOTE, (QUOTE,)), Decimal("222")),
    S.SUBMITTED: Submitted((SentLeg(SENT, ("swap 1.5 SOL -> USDC on raydium",)),)),
    S.CONFIRMED: Confirmed(
        "5sig",
        "raydium",
        Decimal("149.25"),
        Decimal("223.875"),
        Decimal("222"),
        Decimal("1.5"),
        Decimal(0),
        (LANDED,),
    ),
    S.FAILED: Failed(OrderError("no_route", "no venue trades the pair")),
    S.CANCELLED: Cancelled(),
    S.EXPIRED: Expired(9_000_000),
}


def payload_for(status: OrderStatus) -> EventPayload:
    """A valid payload of `status` (the same one each time)."""
    return SAMPLES[status]


def with_data(event: OrderEvent, data: dict[str, Any]) -> OrderEvent:
    """`event` carrying `data`: stores keep whatever an event says."""
    return dataclasses.replace(event, data=data)
