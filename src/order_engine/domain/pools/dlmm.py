"""Discrete-bin liquidity pool (Meteora DLMM-like).

Liquidity sits in bins; bin `offset` (counted from the active bin) trades at the constant
price active_price × (1 + step)^offset. Bins above the active one hold only A, bins below
only B, the active bin both. Selling A takes B from the active bin, then from the bins
below; selling B takes A from the active bin, then from the bins above. The swap ends in
the new active bin, and the number of bins it moved adds to `volatility`, which raises
the variable fee of the next swaps:

    fee_rate = min(max_fee, base_fee + variable_fee_control × (volatility × step)²)

The fee is taken from the input before walking the bins and goes to the liquidity
providers, not into the bins.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from order_engine.domain.pools.base import (
    CTX,
    ONE,
    ZERO,
    InsufficientLiquidityError,
    SwapResult,
    check_amount_in,
    check_fee,
    check_positive,
    price_impact,
)

BPS = Decimal(10_000)
HALF = Decimal("0.5")


@dataclass(frozen=True, slots=True)
class Bin:
    """One price bin; `offset` counts bins from the active one."""

    offset: int
    reserve_a: Decimal
    reserve_b: Decimal

    def value_b(self, price: Decimal) -> Decimal:
        """What the bin holds, in B at its own price (call inside `localcontext(CTX)`)."""
        return self.reserve_a * price + self.reserve_b


@dataclass(frozen=True, slots=True)
class DlmmPool:
    bin_step_bps: int  # 10 = each bin 0.1% above the one below
    active_price: Decimal  # price of the active bin, B per A
    bins: tuple[Bin, ...]  # sorted by offset; missing offsets are empty bins
    base_fee: Decimal
    variable_fee_control: Decimal = Decimal(10)
    volatility: Decimal = ZERO  # bins crossed recently
    max_fee: Decimal = Decimal("0.10")
    version: int = 0

    def __post_init__(self) -> None:
        if self.bin_step_bps <= 0:
            raise ValueError(f"bin_step_bps must be greater than 0, got {self.bin_step_bps}")
        check_positive(self.active_price, "active_price")
        check_fee(self.base_fee, "base_fee")
        check_fee(self.max_fee, "max_fee")
        if self.base_fee > self.max_fee:
            raise ValueError(f"base_fee {self.base_fee} exceeds max_fee {self.max_fee}")
        for value, name in (
            (self.variable_fee_control, "variable_fee_control"),
            (self.volatility, "volatility"),
        ):
            if not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        _check_bins(self.bins)

    @classmethod
    def from_depth(
        cls,
        mid_price: Decimal,
        depth_b: Decimal,
        *,
        bin_step_bps: int = 10,
        bins_each_side: int = 60,
        base_fee: Decimal,
        variable_fee_control: Decimal = Decimal(10),
        max_fee: Decimal = Decimal("0.10"),
    ) -> DlmmPool:
        """A triangular liquidity shape around `mid_price`, worth `depth_b` (in B) per side.

        Bin `i` gets a weight of n + 1 − |i|; the active bin is split half A, half B.
        """
        check_positive(mid_price, "mid_price")
        check_positive(depth_b, "depth_b")
        if bins_each_side < 0:
            raise ValueError(f"bins_each_side must be >= 0, got {bins_each_side}")
        n = bins_each_side
        step = Decimal(bin_step_bps) / BPS
        with localcontext(CTX):
            side_weight = Decimal((n + 1) ** 2) / 2  # (n + 1)/2 for half the active bin + Σ 1..n
            bins = tuple(
                _bin_worth(i, depth_b * (n + 1 - abs(i)) / side_weight, _price(mid_price, step, i))
                for i in range(-n, n + 1)
            )
        return cls(bin_step_bps, mid_price, bins, base_fee, variable_fee_control, max_fee=max_fee)

    @property
    def step(self) -> Decimal:
        return Decimal(self.bin_step_bps) / BPS

    @property
    def mid_price(self) -> Decimal:
        return self.active_price

    @property
    def fee_rate(self) -> Decimal:
        with localcontext(CTX):
            variable = self.variable_fee_control * (self.volatility * self.step) ** 2
            return min(self.max_fee, self.base_fee + variable)

    def bin_price(self, offset: int) -> Decimal:
        return _price(self.active_price, self.step, offset)

    def depth_in(self, *, a_to_b: bool) -> Decimal:
        """The input (before the fee) that would drain every bin of the output token."""
        with localcontext(CTX):
            if a_to_b:
                return sum((b.reserve_b / self.bin_price(b.offset) for b in self.bins), ZERO)
            return sum((b.reserve_a * self.bin_price(b.offset) for b in self.bins), ZERO)

    def swap(self, amount_in: Decimal, *, a_to_b: bool) -> SwapResult:
        check_amount_in(amount_in)
        with localcontext(CTX):
            net = amount_in * (ONE - self.fee_rate)
            fee_paid = amount_in - net
            filled, out, end = self._walk(net, a_to_b=a_to_b)
            at_mid = net * self.active_price if a_to_b else net / self.active_price
            impact = price_impact(out, at_mid)
            after = replace(
                self,
                active_price=self.bin_price(end),
                bins=tuple(
                    replace(filled.get(b.offset, b), offset=b.offset - end) for b in self.bins
                ),
                volatility=self.volatility + abs(end),
                version=self.version + 1,
            )
        return SwapResult(amount_in, out, fee_paid, impact, after)

    def _walk(self, net: Decimal, *, a_to_b: bool) -> tuple[dict[int, Bin], Decimal, int]:
        """Fill `net` bin by bin from the active one; the changed bins, output, end offset."""
        if a_to_b:
            path = [b for b in reversed(self.bins) if b.offset <= 0]
        else:
            path = [b for b in self.bins if b.offset >= 0]
        filled: dict[int, Bin] = {}
        remaining, out = net, ZERO
        for b in path:
            new, got, used = _fill(b, remaining, self.bin_price(b.offset), a_to_b=a_to_b)
            filled[b.offset] = new
            out += got
            if used == remaining:
                return filled, out, b.offset
            remaining -= used
        raise InsufficientLiquidityError(
            f"the pool's bins cannot absorb {net} (after fee); {remaining} would be left over"
        )

    def repriced(self, mid_price: Decimal) -> DlmmPool:
        """Each bin keeps its value in B, re-split at the new prices; volatility halves."""
        check_positive(mid_price, "mid_price")
        with localcontext(CTX):
            bins = []
            step, old = self.step, self.active_price
            for b in self.bins:
                growth = _growth(step, b.offset)
                value = b.value_b(old * growth if b.offset else old)
                share_b = b.reserve_b / value if value else HALF
                price = mid_price * growth if b.offset else mid_price
                bins.append(_bin_worth(b.offset, value, price, share_b))
            return replace(
                self,
                active_price=mid_price,
                bins=tuple(bins),
                volatility=self.volatility / 2,
                version=self.version + 1,
            )


def _price(active_price: Decimal, step: Decimal, offset: int) -> Decimal:
    if offset == 0:
        return active_price
    return CTX.multiply(active_price, _growth(step, offset))


@functools.lru_cache(maxsize=4096)
def _growth(step: Decimal, offset: int) -> Decimal:
    """(1 + step)^offset, computed once per bin step and offset (every re-price of every
    pool needs the same few hundred)."""
    with localcontext(CTX):
        return (ONE + step) ** offset


def _bin_worth(offset: int, value_b: Decimal, price: Decimal, share_b: Decimal = HALF) -> Bin:
    """A bin worth `value_b` in B: all A above the active bin, all B below, split at 0."""
    if offset > 0:
        return Bin(offset, value_b / price, ZERO)
    if offset < 0:
        return Bin(offset, ZERO, value_b)
    return Bin(offset, value_b * (ONE - share_b) / price, value_b * share_b)


def _fill(
    b: Bin, remaining: Decimal, price: Decimal, *, a_to_b: bool
) -> tuple[Bin, Decimal, Decimal]:
    """Trade up to `remaining` against one bin at its flat price: (bin after, out, input used)."""
    if a_to_b:
        capacity = b.reserve_b / price  # A that buys all the bin's B
        if remaining <= capacity:
            got = min(remaining * price, b.reserve_b)
            return Bin(b.offset, b.reserve_a + remaining, b.reserve_b - got), got, remaining
        return Bin(b.offset, b.reserve_a + capacity, ZERO), b.reserve_b, capacity
    capacity = b.reserve_a * price  # B that buys all the bin's A
    if remaining <= capacity:
        got = min(remaining / price, b.reserve_a)
        return Bin(b.offset, b.reserve_a - got, b.reserve_b + remaining), got, remaining
    return Bin(b.offset, ZERO, b.reserve_b + capacity), b.reserve_a, capacity


def _check_bins(bins: tuple[Bin, ...]) -> None:
    offsets = [b.offset for b in bins]
    if offsets != sorted(set(offsets)):
        raise ValueError("bins must be sorted by offset, each offset once")
    for b in bins:
        for amount in (b.reserve_a, b.reserve_b):
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"bin {b.offset} has an invalid reserve {amount}")
        if b.offset > 0 and b.reserve_b:
            raise ValueError(f"bin {b.offset} is above the active bin and must hold only A")
        if b.offset < 0 and b.reserve_a:
            raise ValueError(f"bin {b.offset} is below the active bin and must hold only B")
