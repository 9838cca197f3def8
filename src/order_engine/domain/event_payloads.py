"""What each lifecycle event says: one typed payload per status, and its one serializer.

`Order.apply` takes a payload (its class names the status) and stores `as_dict()`, the
fields the event adds to `orderId, seq, status, tsMs, attempt` on the wire. Money is a
decimal string in positional notation; a sniper order's prices are what one tokenOut costs
in tokenIn (`prices_inverted`), every other order's tokenOut per tokenIn. The API documents
the same shapes, one model per status (`api.models`), and the tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from order_engine.domain.amounts import money
from order_engine.domain.legs import PRICE_PLACES, Leg, held
from order_engine.domain.quotes import RoutingDecision, plain, quantize
from order_engine.domain.status import OrderError, OrderStatus

S = OrderStatus
CANCELLED_BY_USER = "cancelled by user"
TIME_RAN_OUT = "the time in force ran out"


def in_convention(price: Decimal, inverted: bool) -> Decimal:
    """A price as computed (tokenOut per tokenIn, after fees), inverted for a sniper order."""
    if inverted and price > 0:
        return quantize(1 / price, PRICE_PLACES)
    return price


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else money(amount)


def held_view(legs: Sequence[Leg]) -> dict[str, Any]:
    """What a two-hop route left in its intermediate token (its second hop did not sell it
    all), if anything: the wallet holds it."""
    left = held(legs)
    if not left:
        return {}
    return {"held": [{"token": h.via, "amount": money(h.amount)} for h in left]}


def legs_view(legs: Sequence[Leg], *, inverted: bool) -> list[dict[str, Any]]:
    """Every leg as the API shows it, its `executedPrice` in the order's convention (a hop
    of a two-hop route: in its own pair, tokenOut per tokenIn)."""
    views = [leg.as_dict() for leg in legs]
    for view, leg in zip(views, legs, strict=True):
        if "executedPrice" in view and leg.executed_price is not None and not leg.hop:
            view["executedPrice"] = money(in_convention(leg.executed_price, inverted))
    return views


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change through the API: an account and the key it used (the audit
    trail). Changes the engine makes itself (routing, fills, expiry) carry no actor."""

    account_id: str
    key_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"actor": {"accountId": self.account_id, "keyId": self.key_id}}


def _by(actor: Actor | None) -> dict[str, Any]:
    return {} if actor is None else actor.as_dict()


@dataclass(frozen=True, slots=True)
class Pending:
    """Accepted (from `actor`, when submitted by an account)."""

    status: ClassVar[OrderStatus] = S.PENDING
    actor: Actor | None = None

    def as_dict(self) -> dict[str, Any]:
        return _by(self.actor)


@dataclass(frozen=True, slots=True)
class LimitTerms:
    """A waiting limit order's terms: the least tokenOut per tokenIn, after fees."""

    limit_price: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {"limitPrice": _money(self.limit_price)}


@dataclass(frozen=True, slots=True)
class SniperTerms:
    """A waiting sniper order's terms: the token whose pool it waits for, on `venue` (None:
    any), paying at most `max_price` tokenIn per tokenOut."""

    token: str
    venue: str | None
    max_price: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "venue": self.venue or "any",
            "maxPrice": _money(self.max_price),
        }


@dataclass(frozen=True, slots=True)
class Waiting:
    """A limit or sniper order waits (again, with a `reason`, when a fired order's price
    moved away): its terms, the best price at the last check (as computed), its expiry."""

    status: ClassVar[OrderStatus] = S.WAITING
    best_price: Decimal | None
    expires_ms: int | None
    check_every_s: float
    terms: LimitTerms | SniperTerms
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        inverted = isinstance(self.terms, SniperTerms)
        best = None if self.best_price is None else in_convention(self.best_price, inverted)
        out: dict[str, Any] = {
            "bestPrice": _money(best),
            "expiresAtMs": self.expires_ms,
            "checkEveryS": self.check_every_s,
            **self.terms.as_dict(),
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class Routing:
    """Quoting every venue."""

    status: ClassVar[OrderStatus] = S.ROUTING

    def as_dict(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True)
class Building:
    """The route chosen (every venue's quote and why) and the least output it accepts."""

    status: ClassVar[OrderStatus] = S.BUILDING
    decision: RoutingDecision
    min_amount_out: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {**self.decision.as_dict(), "minAmountOut": money(self.min_amount_out)}


@dataclass(frozen=True, slots=True)
class SentLeg:
    """A leg written down before it is sent, with the steps of its transaction."""

    leg: Leg
    steps: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**self.leg.as_dict(), "steps": list(self.steps)}


@dataclass(frozen=True, slots=True)
class Submitted:
    """Every leg of the route, signed and recorded before it is sent: the first leg's
    signature and steps, the venues and the least total output."""

    status: ClassVar[OrderStatus] = S.SUBMITTED
    legs: tuple[SentLeg, ...]

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("a submitted event needs at least one leg")

    @property
    def tx_hash(self) -> str:
        return self.legs[0].leg.tx_hash

    @property
    def dex(self) -> str:
        return "+".join(sent.leg.dex for sent in self.legs)

    @property
    def min_amount_out(self) -> Decimal:
        return sum((sent.leg.min_amount_out for sent in self.legs), Decimal(0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "txHash": self.tx_hash,
            "dex": self.dex,
            "minAmountOut": money(self.min_amount_out),
            "steps": list(self.legs[0].steps),
            "legs": [sent.as_dict() for sent in self.legs],
        }


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What the landed legs filled: all of the order's input, or (attempts spent) a part of
    it (`unfilled_amount_in` > 0: `partial`); `legs` are all the order's legs."""

    status: ClassVar[OrderStatus] = S.CONFIRMED
    tx_hash: str
    dex: str
    executed_price: Decimal  # as computed
    amount_out: Decimal
    min_amount_out: Decimal
    filled_amount_in: Decimal
    unfilled_amount_in: Decimal
    legs: tuple[Leg, ...]
    prices_inverted: bool = False

    def as_dict(self) -> dict[str, Any]:
        partial = self.unfilled_amount_in > 0
        out: dict[str, Any] = {
            "txHash": self.tx_hash,
            "dex": self.dex,
            "executedPrice": money(in_convention(self.executed_price, self.prices_inverted)),
            "amountOut": money(self.amount_out),
            "minAmountOut": money(self.min_amount_out),
            "filledAmountIn": plain(self.filled_amount_in),
            "partial": partial,
            "legs": legs_view(self.legs, inverted=self.prices_inverted),
        }
        if partial:
            out["unfilledAmountIn"] = plain(self.unfilled_amount_in)
        out.update(held_view(self.legs))
        return out


@dataclass(frozen=True, slots=True)
class Failed:
    """Why the order failed, every attempt's error, and its legs (when it sent any)."""

    status: ClassVar[OrderStatus] = S.FAILED
    error: OrderError
    attempts: tuple[OrderError, ...] = ()
    legs: tuple[Leg, ...] = ()
    prices_inverted: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "error": {"code": self.error.code, "message": self.error.message},
            "attempts": [e.as_dict() for e in self.attempts],
        }
        if self.legs:
            out["legs"] = legs_view(self.legs, inverted=self.prices_inverted)
        out.update(held_view(self.legs))
        return out


@dataclass(frozen=True, slots=True)
class Cancelled:
    status: ClassVar[OrderStatus] = S.CANCELLED
    reason: str = CANCELLED_BY_USER
    actor: Actor | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, **_by(self.actor)}


@dataclass(frozen=True, slots=True)
class Expired:
    """A waiting order's time in force ran out (at `expires_ms`)."""

    status: ClassVar[OrderStatus] = S.EXPIRED
    expires_ms: int | None
    reason: str = TIME_RAN_OUT

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "expiresAtMs": self.expires_ms}


EventPayload = (
    Pending | Waiting | Routing | Building | Submitted | Confirmed | Failed | Cancelled | Expired
)
PAYLOADS: tuple[type[EventPayload], ...] = (
    Pending, Waiting, Routing, Building, Submitted, Confirmed, Failed, Cancelled, Expired,
)  # fmt: skip
