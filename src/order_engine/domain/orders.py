"""The order aggregate and its lifecycle table.

`Order.apply` is the one door into the lifecycle: it takes the event's typed payload (one
per status, `domain.event_payloads`, whose class names the status), checks the table,
updates the aggregate and returns the event to persist and publish. Illegal moves raise
`IllegalTransitionError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from order_engine.domain.amounts import money
from order_engine.domain.errors import IllegalTransitionError
from order_engine.domain.event_payloads import (
    Actor,
    Confirmed,
    EventPayload,
    Failed,
    Pending,
    Submitted,
    in_convention,
    legs_view,
)
from order_engine.domain.legs import Fill, Leg, Receipt, landed, unsettled
from order_engine.domain.status import OrderError, OrderStatus

__all__ = [
    "CANCELLABLE",
    "NOT_RUNNABLE",
    "TERMINAL",
    "TRANSITIONS",
    "WAITING_ONLY",
    "Execution",
    "Order",
    "OrderError",
    "OrderEvent",
    "OrderStatus",
    "OrderType",
]


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    SNIPER = "sniper"

    @property
    def waits(self) -> bool:
        """Whether orders of this type may wait (`waiting`, `expired`)."""
        return self is not OrderType.MARKET


S = OrderStatus
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.WAITING, S.ROUTING, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.WAITING: frozenset({S.ROUTING, S.FAILED, S.CANCELLED, S.EXPIRED}),
    # back to waiting (limit and sniper orders only): fired, but the price moved away
    # before it executed; never with a leg sent and not settled, nor with any fill
    S.ROUTING: frozenset({S.BUILDING, S.WAITING, S.FAILED, S.CANCELLED}),
    S.BUILDING: frozenset({S.SUBMITTED, S.WAITING, S.FAILED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.CONFIRMED, S.WAITING, S.FAILED}),
    S.CONFIRMED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
WAITING_ONLY: frozenset[OrderStatus] = frozenset({S.WAITING, S.EXPIRED})
TERMINAL: frozenset[OrderStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# not for the recovery sweep to queue: finished, or waiting (watched per pair instead)
NOT_RUNNABLE: frozenset[OrderStatus] = TERMINAL | {S.WAITING}
CANCELLABLE: frozenset[OrderStatus] = frozenset(
    s for s, nxt in TRANSITIONS.items() if S.CANCELLED in nxt
)


@dataclass(frozen=True, slots=True)
class Execution:
    """What a confirmed swap delivered (`receipt`: where and at what cost, on a chain)."""

    dex: str
    tx_hash: str
    executed_price: Decimal
    amount_out: Decimal
    receipt: Receipt | None = None


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One lifecycle step. `seq` is 1, 2, 3... per order; `data` holds status details: its
    payload's `as_dict()` (`domain.event_payloads`), the form stored and sent."""

    order_id: str
    seq: int
    status: OrderStatus
    ts_ms: int
    attempt: int
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def as_dict(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "seq": self.seq,
            "status": self.status.value,
            "tsMs": self.ts_ms,
            "attempt": self.attempt,
            **self.data,
        }


ENGINE_WALLET = "engine"  # `Order.wallet` of an order the engine's own wallet pays for


@dataclass(slots=True)
class Order:
    """A swap order. Mutate it only through `apply` (and `record_attempt_error`)."""

    id: str
    token_in: str
    token_out: str
    amount_in: Decimal
    slippage_bps: int
    created_ms: int
    type: OrderType = OrderType.MARKET
    client_order_id: str | None = None
    user_id: str | None = None  # a client's own label for whose order this is (filterable)
    account_id: str | None = None  # the account that owns it (None: made before accounts)
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    status: OrderStatus = OrderStatus.PENDING
    seq: int = 0
    attempt: int = 0
    updated_ms: int = 0
    dex: str | None = None
    tx_hash: str | None = None
    executed_price: Decimal | None = None
    amount_out: Decimal | None = None
    min_amount_out: Decimal | None = None
    error: OrderError | None = None
    attempt_errors: list[OrderError] = field(default_factory=list)
    legs: list[Leg] = field(default_factory=list)  # every transaction of its route(s)
    limit_price: Decimal | None = None  # limit orders: least tokenOut per tokenIn, after fees
    expires_ms: int | None = None  # limit orders: when a waiting order expires
    # as computed, tokenOut per tokenIn; shown in the order's convention (`shown_price`)
    best_price: Decimal | None = None  # limit orders: the best price at the last check
    checked_ms: int | None = None  # limit orders: when that was
    venue: str | None = None  # sniper orders: the venue whose pool they wait for (None: any)
    max_price: Decimal | None = None  # sniper orders: most tokenIn paid per tokenOut
    max_price_impact_bps: int | None = None  # the order's own guard; None: the engine's
    # who pays, as the store recorded it when the order was made: the public key of its
    # account's wallet, or ENGINE_WALLET; None: not recorded (the account is asked)
    wallet: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def copy(self) -> Order:
        """A copy that moves on independently (its own lists of errors and legs)."""
        return replace(self, attempt_errors=list(self.attempt_errors), legs=list(self.legs))

    def expired(self, now_ms: int) -> bool:
        """Whether a waiting order's time in force has run out at `now_ms`."""
        return self.expires_ms is not None and now_ms >= self.expires_ms

    @property
    def fill(self) -> Fill:
        return Fill.of(self.legs)

    @property
    def prices_inverted(self) -> bool:
        """A sniper order's prices, like its `maxPrice`, are what one tokenOut costs in
        tokenIn; every other order's are tokenOut per tokenIn."""
        return self.type is OrderType.SNIPER

    def shown_price(self, price: Decimal | None) -> str | None:
        """`price` (as computed: tokenOut per tokenIn, after fees) in the order's one
        convention (`prices_inverted`)."""
        if price is None:
            return None
        return money(in_convention(price, self.prices_inverted))

    def legs_view(self) -> list[dict[str, Any]]:
        """Every leg as the API shows it, its `executedPrice` in the order's convention."""
        return legs_view(self.legs, inverted=self.prices_inverted)

    def apply(self, payload: EventPayload, *, ts_ms: int, attempt: int | None = None) -> OrderEvent:
        """Move to `payload.status` if the lifecycle table allows it; return the event."""
        status = payload.status
        first = self.seq == 0
        if first and status is not OrderStatus.PENDING:
            raise IllegalTransitionError(f"order {self.id} must start as pending, not {status}")
        if not first and status not in TRANSITIONS[self.status]:
            raise IllegalTransitionError(
                f"order {self.id} cannot move from {self.status} to {status}"
            )
        if status in WAITING_ONLY and not self.type.waits:
            raise IllegalTransitionError(f"a {self.type} order never moves to {status}")
        if status is OrderStatus.WAITING and (unsettled(self.legs) or landed(self.legs)):
            raise IllegalTransitionError(
                f"order {self.id} cannot wait again: a transaction it sent is not settled "
                "or has landed"
            )
        if isinstance(payload, Submitted):
            self.note_submission(payload)
        self.status = status
        self.seq += 1
        self.updated_ms = ts_ms
        if attempt is not None:
            self.attempt = attempt
        return OrderEvent(self.id, self.seq, status, ts_ms, self.attempt, payload.as_dict())

    def note_submission(self, submitted: Submitted) -> None:
        """Where the route was sent (a `submitted` event's `dex` and first `txHash`)."""
        self.dex, self.tx_hash = submitted.dex, submitted.tx_hash

    def start(self, actor: Actor | None = None) -> OrderEvent:
        return self.apply(Pending(actor), ts_ms=self.created_ms, attempt=0)

    def record_attempt_error(self, error: OrderError) -> None:
        self.attempt_errors.append(error)

    def confirm_fill(self, *, ts_ms: int) -> OrderEvent:
        """Confirm what the landed legs filled: all of `amount_in`, or (attempts spent) a
        part of it, reported as `partial` with the unfilled input."""
        fill = self.fill
        if not fill.legs:
            raise IllegalTransitionError(f"order {self.id} cannot be confirmed: nothing filled")
        self.dex, self.tx_hash = fill.dex, fill.route[0].tx_hash
        self.executed_price, self.amount_out = fill.executed_price, fill.amount_out
        self.min_amount_out = fill.min_amount_out  # the executed transactions' floors
        confirmed = Confirmed(
            tx_hash=self.tx_hash,
            dex=self.dex,
            executed_price=self.executed_price,
            amount_out=self.amount_out,
            min_amount_out=self.min_amount_out,
            filled_amount_in=fill.amount_in,
            unfilled_amount_in=self.amount_in - fill.amount_in,
            legs=tuple(self.legs),
            prices_inverted=self.prices_inverted,
        )
        return self.apply(confirmed, ts_ms=ts_ms)

    def fail(self, error: OrderError, *, ts_ms: int) -> OrderEvent:
        failed = Failed(error, tuple(self.attempt_errors), tuple(self.legs), self.prices_inverted)
        event = self.apply(failed, ts_ms=ts_ms)
        self.error = error
        return event
