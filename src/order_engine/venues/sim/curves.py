"""Price curves: a venue's pool for one pair, frozen when fetched, quoting any amount.

The router asks a curve for the output of tens to hundreds of amounts per order, so a quote
must not copy the pool. A constant-product swap is a few operations and runs on the pool
itself. A DLMM swap would rebuild every bin, so the curve walks a ladder of the bins on the
trade's path instead, with the pool's own arithmetic in the same order (the tests hold the
two to identical results).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_UP, Context, Decimal, localcontext

from order_engine.domain.errors import NoRouteError
from order_engine.domain.pools import DlmmPool, InsufficientLiquidityError, Pool
from order_engine.domain.pools.base import CTX, ONE, ZERO, check_amount_in, price_impact
from order_engine.domain.quotes import Quote, quantize
from order_engine.domain.tokens import Token

PRICE_CONTEXT = Context(prec=18)  # significant digits kept in a quoted price
IMPACT_PLACES = Decimal("1e-12")


@dataclass(frozen=True, slots=True)
class Fill:
    """What a swap of `amount_in` returns, before rounding to the output token."""

    amount_out: Decimal
    fee_paid: Decimal
    price_impact: Decimal


@dataclass(frozen=True, slots=True)
class _Rung:
    """A bin on the trade's path: its price and the output token it holds."""

    price: Decimal  # B per A
    reserve_out: Decimal


@dataclass(frozen=True, slots=True)
class DlmmLadder:
    """The bins a DLMM swap in one direction walks, in walking order."""

    rungs: tuple[_Rung, ...]
    fee_rate: Decimal
    active_price: Decimal
    a_to_b: bool

    @classmethod
    def of(cls, pool: DlmmPool, *, a_to_b: bool) -> DlmmLadder:
        if a_to_b:
            path = [(b.offset, b.reserve_b) for b in reversed(pool.bins) if b.offset <= 0]
        else:
            path = [(b.offset, b.reserve_a) for b in pool.bins if b.offset >= 0]
        rungs = tuple(_Rung(pool.bin_price(offset), out) for offset, out in path)
        return cls(rungs, pool.fee_rate, pool.active_price, a_to_b)

    def fill(self, amount_in: Decimal) -> Fill:
        """`DlmmPool.swap` without the pool it leaves behind."""
        with localcontext(CTX):
            net = amount_in * (ONE - self.fee_rate)
            fee_paid = amount_in - net
            remaining, out = net, ZERO
            for rung in self.rungs:
                if self.a_to_b:
                    capacity = rung.reserve_out / rung.price
                    got = min(remaining * rung.price, rung.reserve_out)
                else:
                    capacity = rung.reserve_out * rung.price
                    got = min(remaining / rung.price, rung.reserve_out)
                if remaining <= capacity:
                    at_mid = net * self.active_price if self.a_to_b else net / self.active_price
                    return Fill(out + got, fee_paid, price_impact(out + got, at_mid))
                out += rung.reserve_out
                remaining -= capacity
        raise InsufficientLiquidityError(
            f"the pool's bins cannot absorb {net} (after fee); {remaining} would be left over"
        )


def _pool_fill(pool: Pool, amount_in: Decimal, *, a_to_b: bool) -> Fill:
    result = pool.swap(amount_in, a_to_b=a_to_b)
    return Fill(result.amount_out, result.fee_paid, result.price_impact)


@dataclass(frozen=True, slots=True)
class PoolCurve:
    """One venue's pool for `token_in → token_out` as it stood when fetched (a `PriceCurve`).

    Quotes are pure functions of the snapshot: any number of them, in any order, agree with
    each other and with `pool.swap`, and nothing the venue does later changes them.
    """

    venue: str
    token_in: Token
    token_out: Token
    pool: Pool
    a_to_b: bool
    expires_at_ms: int
    price: Decimal  # token_out per token_in at the pool's mid
    ladder: DlmmLadder | None = None

    @classmethod
    def of(
        cls,
        venue: str,
        pool: Pool,
        token_in: Token,
        token_out: Token,
        *,
        a_to_b: bool,
        expires_at_ms: int,
    ) -> PoolCurve:
        mid = pool.mid_price
        price = PRICE_CONTEXT.create_decimal(mid) if a_to_b else PRICE_CONTEXT.divide(1, mid)
        ladder = DlmmLadder.of(pool, a_to_b=a_to_b) if isinstance(pool, DlmmPool) else None
        return cls(venue, token_in, token_out, pool, a_to_b, expires_at_ms, price, ladder)

    @property
    def pool_version(self) -> int:
        return self.pool.version

    def fill(self, amount_in: Decimal) -> Fill:
        """The unrounded swap; `NoRouteError` naming the venue if the pool cannot take it."""
        check_amount_in(amount_in)
        try:
            if self.ladder is not None:
                return self.ladder.fill(amount_in)
            return _pool_fill(self.pool, amount_in, a_to_b=self.a_to_b)
        except InsufficientLiquidityError as exc:
            raise NoRouteError(
                f"{self.venue}: the {self.token_in.symbol}/{self.token_out.symbol} pool cannot "
                f"absorb {amount_in} {self.token_in.symbol} ({exc})"
            ) from None

    def _amount_out(self, fill: Fill, amount_in: Decimal) -> Decimal:
        amount_out = quantize(fill.amount_out, self.token_out.decimals)
        if amount_out <= 0:
            raise NoRouteError(
                f"{self.venue}: {amount_in} {self.token_in.symbol} buys less than one unit of "
                f"{self.token_out.symbol}"
            )
        return amount_out

    def amount_out(self, amount_in: Decimal) -> Decimal:
        return self._amount_out(self.fill(amount_in), amount_in)

    def quote(self, amount_in: Decimal) -> Quote:
        fill = self.fill(amount_in)
        amount_out = self._amount_out(fill, amount_in)
        return Quote(
            self.venue,
            self.token_in.symbol,
            self.token_out.symbol,
            amount_in,
            self.price,
            self.pool.fee_rate,
            amount_out,
            fee_amount=fill.fee_paid.quantize(self.token_in.quantum, rounding=ROUND_UP),
            price_impact=fill.price_impact.quantize(IMPACT_PLACES),
            pool_version=self.pool.version,
            expires_at_ms=self.expires_at_ms,
        )
