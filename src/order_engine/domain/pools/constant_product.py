"""Constant-product pool (x·y = k, Raydium-like); the fee stays in the pool."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from order_engine.domain.pools.base import (
    CTX,
    ONE,
    InsufficientLiquidityError,
    SwapResult,
    check_amount_in,
    check_fee,
    check_positive,
    price_impact,
)


@dataclass(frozen=True, slots=True)
class ConstantProductPool:
    reserve_a: Decimal
    reserve_b: Decimal
    fee: Decimal  # fraction of the input, e.g. 0.0025
    version: int = 0

    def __post_init__(self) -> None:
        check_positive(self.reserve_a, "reserve_a")
        check_positive(self.reserve_b, "reserve_b")
        check_fee(self.fee, "fee")

    @classmethod
    def from_depth(cls, mid_price: Decimal, depth_b: Decimal, fee: Decimal) -> ConstantProductPool:
        """A pool holding `depth_b` of B and the A worth as much at `mid_price`."""
        check_positive(mid_price, "mid_price")
        check_positive(depth_b, "depth_b")
        with localcontext(CTX):
            return cls(depth_b / mid_price, depth_b, fee)

    @property
    def mid_price(self) -> Decimal:
        with localcontext(CTX):
            return self.reserve_b / self.reserve_a

    @property
    def fee_rate(self) -> Decimal:
        return self.fee

    @property
    def liquidity(self) -> Decimal:
        """L = √(x·y), what `repriced` keeps."""
        with localcontext(CTX):
            return (self.reserve_a * self.reserve_b).sqrt()

    def depth_in(self, *, a_to_b: bool) -> Decimal:
        """The input-side reserve."""
        return self.reserve_a if a_to_b else self.reserve_b

    def swap(self, amount_in: Decimal, *, a_to_b: bool) -> SwapResult:
        """dx_eff = dx·(1 − fee); dy = y·dx_eff / (x + dx_eff); reserves become x + dx, y − dy."""
        check_amount_in(amount_in)
        x, y = (self.reserve_a, self.reserve_b) if a_to_b else (self.reserve_b, self.reserve_a)
        with localcontext(CTX):
            net = amount_in * (ONE - self.fee)
            fee_paid = amount_in - net
            out = y * net / (x + net)
            if out >= y:  # only reachable through rounding with absurd inputs
                raise InsufficientLiquidityError(f"{amount_in} would drain the pool")
            impact = price_impact(out, net * y / x)
            x_after, y_after = x + amount_in, y - out
        a, b = (x_after, y_after) if a_to_b else (y_after, x_after)
        after = replace(self, reserve_a=a, reserve_b=b, version=self.version + 1)
        return SwapResult(amount_in, out, fee_paid, impact, after)

    def repriced(self, mid_price: Decimal) -> ConstantProductPool:
        """Keep L = √(x·y), move the mid: x' = L/√p, y' = L·√p."""
        check_positive(mid_price, "mid_price")
        with localcontext(CTX):
            liquidity = self.liquidity
            root = mid_price.sqrt()
            a, b = liquidity / root, liquidity * root
        return replace(self, reserve_a=a, reserve_b=b, version=self.version + 1)
