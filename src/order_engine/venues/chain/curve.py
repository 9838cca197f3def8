"""A chain pool read at one slot, quoting any amount exactly as the program will.

`swap` is the program's own integer arithmetic (`domain.pools.cpmm_exact` or
`dlmm_exact`) on the accounts as read; the curve turns amounts into base units and back,
so the router can price hundreds of amounts on one read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Context, Decimal
from fractions import Fraction

from order_engine.domain.errors import NoRouteError
from order_engine.domain.pools import InsufficientLiquidityError
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token

PRICE_CONTEXT = Context(prec=18)
IMPACT_PLACES = Decimal("1e-12")
SwapFn = Callable[[int], tuple[int, int]]  # base units in -> (out, fee in input units)
# base units swapped first -> the pool's swap after that, and its mid price then
AfterFn = Callable[[int], tuple[SwapFn, Fraction]]


def to_units(amount: Decimal, token: Token) -> int:
    return int(amount.scaleb(token.decimals).to_integral_value(rounding=ROUND_DOWN))


def from_units(units: int, token: Token) -> Decimal:
    return Decimal(units).scaleb(-token.decimals)


def fraction_to_decimal(value: Fraction) -> Decimal:
    return PRICE_CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


@dataclass(frozen=True, slots=True)
class ChainCurve:
    """`venue`'s pool for `token_in → token_out` at `slot` (a `PriceCurve`)."""

    venue: str
    token_in: Token
    token_out: Token
    slot: int
    mid_units: Fraction  # output base units per input base unit at the mid price as read
    fee_rate: Decimal  # the fee a swap of size zero pays now (a fraction of the input)
    expires_at_ms: int
    swap: SwapFn
    after: AfterFn  # the pool's swap once a swap in this direction of n units landed
    # this process's swaps ahead in this direction, in base units: asked at the first quote
    ahead_now: Callable[[], int] = lambda: 0
    _priced: list[tuple[SwapFn, int, Fraction]] = field(
        default_factory=list, init=False, compare=False, repr=False
    )

    def _swap_now(self) -> tuple[SwapFn, int, Fraction]:
        """The pool as a swap chosen now will find it: after the swaps ahead of it land,
        with the base units priced ahead and the mid price they leave (so the price
        impact is this swap's own). Asked once, at the curve's first price or quote: a
        route is chosen from many quotes of its curves in one step of the event loop (a
        curve is read anew for every route). A pool that cannot absorb them is quoted as
        read."""
        if not self._priced:
            ahead = self.ahead_now()
            priced = (self.swap, 0, self.mid_units)
            if ahead > 0:
                try:
                    swap, mid = self.after(ahead)
                    priced = (swap, ahead, mid)
                except (InsufficientLiquidityError, ValueError):
                    pass
            self._priced.append(priced)
        return self._priced[0]

    @property
    def price(self) -> Decimal:
        """Output per input in whole tokens, at the mid price."""
        scale = Fraction(10**self.token_in.decimals, 10**self.token_out.decimals)
        return fraction_to_decimal(self._swap_now()[2] * scale)

    def _swap(self, amount_in: Decimal, swap: SwapFn) -> tuple[int, int, int]:
        """(units in, units out, fee units) of `swap`; `NoRouteError` naming the venue if
        the pool cannot take it or it buys less than one unit."""
        units = to_units(amount_in, self.token_in)
        if units <= 0:
            raise NoRouteError(
                f"{self.venue}: {amount_in} {self.token_in.symbol} is below one unit"
            )
        try:
            out, fee = swap(units)
        except (InsufficientLiquidityError, ValueError) as exc:
            raise NoRouteError(
                f"{self.venue}: the {self.token_in.symbol}/{self.token_out.symbol} pool cannot "
                f"absorb {amount_in} {self.token_in.symbol} ({exc})"
            ) from None
        if out <= 0:
            raise NoRouteError(
                f"{self.venue}: {amount_in} {self.token_in.symbol} buys less than one unit of "
                f"{self.token_out.symbol}"
            )
        return units, out, fee

    def amount_out(self, amount_in: Decimal) -> Decimal:
        return from_units(self._swap(amount_in, self._swap_now()[0])[1], self.token_out)

    def quote(self, amount_in: Decimal) -> Quote:
        swap, ahead, mid = self._swap_now()
        units, out, fee = self._swap(amount_in, swap)
        at_mid = (units - fee) * mid
        impact = 1 - Fraction(out) / at_mid if at_mid > 0 else Fraction(0)
        return Quote(
            self.venue,
            self.token_in.symbol,
            self.token_out.symbol,
            amount_in,
            self.price,
            self.fee_rate,
            from_units(out, self.token_out),
            fee_amount=from_units(fee, self.token_in),
            price_impact=max(fraction_to_decimal(impact), Decimal(0)).quantize(IMPACT_PLACES),
            pool_version=self.slot,
            expires_at_ms=self.expires_at_ms,
            ahead_amount_in=from_units(ahead, self.token_in),
        )
