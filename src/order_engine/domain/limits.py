"""Limit orders: the price rule, the floors that guarantee it, and the time in force.

`limitPrice` is tokenOut per tokenIn after every fee: a limit order executes only when the
route's whole output is at least `amountIn × limitPrice`, and every leg it sends carries a
minimum output of at least its share of that (rounded up), besides the slippage minimum.
So even if the pool moves between the check and the execution, the user never receives
less than the limit price: the leg reverts instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_UP, Decimal

from order_engine.domain.errors import ExecutionError, RequestError, SlippageExceededError
from order_engine.domain.legs import landed, unsettled
from order_engine.domain.orders import Order, OrderStatus
from order_engine.domain.quotes import Quote, minimum_out, quantize

DEFAULT_TIME_IN_FORCE_S = 3_600  # an hour
MAX_TIME_IN_FORCE_S = 7 * 24 * 3_600  # a week
MAX_LIMIT_PRICE = Decimal("1000000000000")
PRICE_PLACES = 12


def limit_floor(amount_in: Decimal, limit_price: Decimal, decimals: int) -> Decimal:
    """The least output `amount_in` may buy at `limit_price`, rounded UP to the token's
    decimals (rounding down would accept a fraction of a unit below the limit)."""
    return (amount_in * limit_price).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_UP)


def meets_limit(
    amount_out: Decimal, amount_in: Decimal, limit_price: Decimal, decimals: int
) -> bool:
    return amount_out >= limit_floor(amount_in, limit_price, decimals)


def max_price_floor(amount_in: Decimal, max_price: Decimal, decimals: int) -> Decimal:
    """The least output `amount_in` may buy when paying at most `max_price` tokenIn per
    tokenOut (a sniper order's cap), rounded UP to the token's decimals."""
    return (amount_in / max_price).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_UP)


def leg_floors(
    route: Sequence[Quote],
    slippage_bps: int,
    decimals: int,
    *,
    limit_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> list[Decimal]:
    """Each leg's minimum output: the slippage minimum of its quote, raised to the limit
    price (limit orders) or the price cap (sniper orders) for its share of the input."""
    floors = []
    for quote in route:
        floor = minimum_out(quote.amount_out, slippage_bps, decimals)
        if limit_price is not None:
            floor = max(floor, limit_floor(quote.amount_in, limit_price, decimals))
        if max_price is not None:
            floor = max(floor, max_price_floor(quote.amount_in, max_price, decimals))
        floors.append(floor)
    return floors


def route_minimum(
    amount_out: Decimal,
    amount_in: Decimal,
    slippage_bps: int,
    decimals: int,
    *,
    limit_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> Decimal:
    """The least a whole route (e.g. both hops through an intermediate token) may deliver
    for `amount_in`: the slippage minimum of its quoted output, raised to the limit price
    or the price cap."""
    floor = minimum_out(amount_out, slippage_bps, decimals)
    if limit_price is not None:
        floor = max(floor, limit_floor(amount_in, limit_price, decimals))
    if max_price is not None:
        floor = max(floor, max_price_floor(amount_in, max_price, decimals))
    return floor


def raised_floors(
    route: Sequence[Quote], floors: list[Decimal], need: Decimal, decimals: int
) -> list[Decimal]:
    """`floors` raised, each by its leg's share of the quoted output (rounded up), until
    together they ask at least `need`."""
    short = need - sum(floors, Decimal(0))
    total = sum((q.amount_out for q in route), Decimal(0))
    if short <= 0 or total <= 0:
        return floors
    unit = Decimal(1).scaleb(-decimals)
    return [
        f + (short * q.amount_out / total).quantize(unit, rounding=ROUND_UP)
        for q, f in zip(route, floors, strict=True)
    ]


FIRED = frozenset({OrderStatus.ROUTING, OrderStatus.BUILDING, OrderStatus.SUBMITTED})


def waits_again(order: Order, error: ExecutionError) -> bool:
    """Whether a fired limit or sniper order's failed attempt only found its price gone (its
    fresh route below the limit or over the cap, or its swap reverted on its minimum), with
    every leg it sent settled and none landed: it goes back to `waiting` (the attempt is
    given back) instead of failing after its attempts. A part already filled is confirmed
    as a partial fill when attempts run out, never put back to wait."""
    return (
        order.type.waits
        and order.status in FIRED
        and isinstance(error, SlippageExceededError)
        and not unsettled(order.legs)
        and not landed(order.legs)
    )


def price_of(amount_out: Decimal, amount_in: Decimal) -> Decimal:
    """tokenOut per tokenIn, after fees, to 12 places."""
    return quantize(amount_out / amount_in, PRICE_PLACES)


def check_limit_price(price: Decimal, *, field: str = "limitPrice") -> Decimal:
    if not price.is_finite() or price <= 0:
        raise RequestError(f"{field} must be a number greater than 0", field=field)
    if price > MAX_LIMIT_PRICE:
        raise RequestError(f"{field} must be at most {MAX_LIMIT_PRICE}", field=field)
    return price


def expiry_ms(
    now_ms: int,
    *,
    time_in_force_s: int | None,
    expires_at_ms: int | None,
    default_s: int = DEFAULT_TIME_IN_FORCE_S,
    max_s: int = MAX_TIME_IN_FORCE_S,
) -> int:
    """When a waiting order expires: `timeInForceSeconds` from now, or `expiresAt`, or the
    default; at most `max_s` ahead. Errors name the field."""
    if time_in_force_s is not None and expires_at_ms is not None:
        raise RequestError(
            "give timeInForceSeconds or expiresAt, not both", field="timeInForceSeconds"
        )
    if expires_at_ms is not None:
        if expires_at_ms <= now_ms:
            raise RequestError("expiresAt must be in the future", field="expiresAt")
        if expires_at_ms - now_ms > max_s * 1000:
            raise RequestError(f"expiresAt must be within {max_s} s from now", field="expiresAt")
        return expires_at_ms
    seconds = default_s if time_in_force_s is None else time_in_force_s
    if not 1 <= seconds <= max_s:
        raise RequestError(
            f"timeInForceSeconds must be from 1 to {max_s}", field="timeInForceSeconds"
        )
    return now_ms + seconds * 1000


def price_ok(order: Order, amount_out: Decimal, amount_in: Decimal, decimals: int) -> bool:
    """Whether `amount_in → amount_out` honours the order's price condition: a limit order's
    least price, a sniper order's price cap; a market order has none."""
    if order.limit_price is not None:
        return meets_limit(amount_out, amount_in, order.limit_price, decimals)
    if order.max_price is not None:
        return amount_out >= max_price_floor(amount_in, order.max_price, decimals)
    return True


def price_refusal(order: Order, amount_out: Decimal, amount_in: Decimal) -> str:
    """Why a route that fails `price_ok` is not sent."""
    if order.limit_price is not None:
        return (
            f"the best route pays {price_of(amount_out, amount_in)} {order.token_out} per "
            f"{order.token_in}, below the limit {order.limit_price}; nothing was sent"
        )
    paid = quantize(amount_in / amount_out, PRICE_PLACES) if amount_out else "∞"
    return (
        f"the best route costs {paid} {order.token_in} per {order.token_out}, above the cap "
        f"{order.max_price}; nothing was sent"
    )
