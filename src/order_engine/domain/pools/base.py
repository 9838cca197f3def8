"""What every simulated pool shares: the swap result, the `Pool` protocol, the arithmetic.

Pools are immutable: `swap` and `repriced` return a new pool and leave the old one as it
was. A pool trades token A (base) against token B (quote); prices are B per A.

All pool arithmetic runs inside `localcontext(CTX)` (40 significant digits); the caller's
decimal context is never touched. Amounts come back unrounded: the caller quantizes them
to the token's decimals, rounding down.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Protocol

CTX = Context(prec=40)
ZERO = Decimal(0)
ONE = Decimal(1)


class InsufficientLiquidityError(ValueError):
    """The pool cannot absorb the whole input. Domain-internal: venues translate it."""


@dataclass(frozen=True, slots=True)
class SwapResult:
    """One simulated swap and the pool state it leaves behind.

    `price_impact` is how much worse than the mid price the trade is, excluding the fee:
    1 − out / (input after fee × mid price in the trade's direction), never below 0.
    """

    amount_in: Decimal  # the whole input, consumed
    amount_out: Decimal  # after the fee, unrounded
    fee_paid: Decimal  # in input-token units
    price_impact: Decimal
    pool_after: Pool


class Pool(Protocol):
    """A pool the venue simulators quote and swap against."""

    @property
    def version(self) -> int:
        """Increments on every swap and every reprice."""
        ...

    @property
    def mid_price(self) -> Decimal:
        """B per A."""
        ...

    @property
    def fee_rate(self) -> Decimal:
        """The fee rate a swap would pay now."""
        ...

    def swap(self, amount_in: Decimal, *, a_to_b: bool) -> SwapResult: ...

    def repriced(self, mid_price: Decimal) -> Pool:
        """The same depth moved to a new mid price, version + 1."""
        ...

    def depth_in(self, *, a_to_b: bool) -> Decimal:
        """A measure of depth in input-token units (before the fee)."""
        ...


def check_amount_in(amount_in: Decimal) -> None:
    if not amount_in.is_finite() or amount_in <= 0:
        raise ValueError(f"amount_in must be a finite amount greater than 0, got {amount_in}")


def check_positive(value: Decimal, name: str) -> None:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be a finite number greater than 0, got {value}")


def check_fee(fee: Decimal, name: str) -> None:
    if not fee.is_finite() or not ZERO <= fee < ONE:
        raise ValueError(f"{name} must be in [0, 1), got {fee}")


def price_impact(amount_out: Decimal, at_mid: Decimal) -> Decimal:
    """1 − out / (what the same net input buys at the mid price), clamped at 0.

    Call inside `localcontext(CTX)`.
    """
    return max(ZERO, ONE - amount_out / at_mid)
