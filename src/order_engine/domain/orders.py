"""The order aggregate and its lifecycle table.

`Order.apply` is the one door into the lifecycle: it checks the table, updates the
aggregate and returns the event to persist and publish. Illegal moves raise
`IllegalTransitionError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from order_engine.domain.amounts import money
from order_engine.domain.errors import IllegalTransitionError
from order_engine.domain.legs import PRICE_PLACES, Fill, Leg, Receipt, held, landed, unsettled
from order_engine.domain.quotes import plain, quantize


class OrderStatus(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"  # a limit order waiting for its price
    ROUTING = "routing"
    BUILDING = "building"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a waiting order whose time in force ran out


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
class OrderError:
    """Why an attempt (or the order) failed: a stable code and a human message."""

    code: str
    message: str
    attempt: int = 0
    ts_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "attempt": self.attempt,
            "tsMs": self.ts_ms,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OrderError:
        return cls(
            str(raw["code"]),
            str(raw["message"]),
            int(raw.get("attempt", 0)),
            int(raw.get("tsMs", 0)),
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
    """One lifecycle step. `seq` is 1, 2, 3... per order; `data` holds status details."""

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

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def expired(self, now_ms: int) -> bool:
        """Whether a waiting order's time in force has run out at `now_ms`."""
        return self.expires_ms is not None and now_ms >= self.expires_ms

    @property
    def fill(self) -> Fill:
        return Fill.of(self.legs)

    def shown_price(self, price: Decimal | None) -> str | None:
        """`price` (as computed: tokenOut per tokenIn, after fees) in the order's one
        convention: a sniper order's prices, like its `maxPrice`, are what one tokenOut
        costs in tokenIn; every other order's are tokenOut per tokenIn."""
        if price is None:
            return None
        if self.type is OrderType.SNIPER and price > 0:
            price = quantize(1 / price, PRICE_PLACES)
        return money(price)

    def legs_view(self) -> list[dict[str, Any]]:
        """Every leg as the API shows it, its `executedPrice` in the order's convention."""
        views = [leg.as_dict() for leg in self.legs]
        for view, leg in zip(views, self.legs, strict=True):
            if "executedPrice" in view and not leg.hop:  # a hop's price is in its own pair
                view["executedPrice"] = self.shown_price(leg.executed_price)
        return views

    def apply(
        self,
        status: OrderStatus,
        *,
        ts_ms: int,
        attempt: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> OrderEvent:
        """Move to `status` if the lifecycle table allows it; return the event."""
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
        if status is OrderStatus.SUBMITTED:
            self.note_submission(data)
        self.status = status
        self.seq += 1
        self.updated_ms = ts_ms
        if attempt is not None:
            self.attempt = attempt
        return OrderEvent(self.id, self.seq, status, ts_ms, self.attempt, dict(data or {}))

    def note_submission(self, data: dict[str, Any] | None) -> None:
        """Where the route was sent (a `submitted` event's `dex` and first `txHash`)."""
        if data and "txHash" in data:
            self.dex, self.tx_hash = data.get("dex"), data["txHash"]

    def start(self) -> OrderEvent:
        return self.apply(OrderStatus.PENDING, ts_ms=self.created_ms, attempt=0)

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
        partial = fill.amount_in < self.amount_in
        data: dict[str, Any] = {
            "txHash": self.tx_hash,
            "dex": self.dex,
            "executedPrice": self.shown_price(self.executed_price),
            "amountOut": money(self.amount_out),
            "minAmountOut": money(self.min_amount_out),
            "filledAmountIn": plain(fill.amount_in),
            "partial": partial,
            "legs": self.legs_view(),
        }
        if partial:
            data["unfilledAmountIn"] = plain(self.amount_in - fill.amount_in)
        data.update(self._held_view())
        return self.apply(OrderStatus.CONFIRMED, ts_ms=ts_ms, data=data)

    def _held_view(self) -> dict[str, Any]:
        """What a two-hop route left in its intermediate token (its second hop did not
        sell it all), if anything: the wallet holds it."""
        left = held(self.legs)
        if not left:
            return {}
        return {"held": [{"token": h.via, "amount": money(h.amount)} for h in left]}

    def fail(self, error: OrderError, *, ts_ms: int) -> OrderEvent:
        event = self.apply(
            OrderStatus.FAILED,
            ts_ms=ts_ms,
            data={
                "error": {"code": error.code, "message": error.message},
                "attempts": [e.as_dict() for e in self.attempt_errors],
                **({"legs": self.legs_view()} if self.legs else {}),
                **self._held_view(),
            },
        )
        self.error = error
        return event
