"""Compute-unit limits sized from simulations, remembered per shape of transaction.

A swap's compute units depend on its program, pair, direction and wrapping, and for DLMM
on the bins it crosses. The first transaction of a shape is simulated and its limit set
from what it used (+10%, at least 5,000); later ones of the same shape reuse that figure
while their price impact is small (a swap that moves the price crosses more bins: it is
simulated), and every `refresh_every`-th one is simulated again. A transaction that ran
out of compute on chain clears what was learnt. A swap behind this process's swaps in
flight on its pool is simulated on the pool as it is now, not as it will find it: it may
cross further bins, so its limit gets more room (+25%, at least 20,000; at 1,000
micro-lamports per unit, 20 lamports more priority fee).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token

BudgetKey = tuple[str, str, str, bool, bool, bool]


def budget_key(venue: str, token_in: Token, token_out: Token, creates_output: bool) -> BudgetKey:
    """A shape: program, mints, wrapping, and whether the output account is created."""
    mints = (token_in.swap_mint, token_out.swap_mint)
    return (venue, *mints, token_in.native, token_out.native, creates_output)


def limit_for(compute_units: int, *, behind: bool = False) -> int:
    if behind:
        return compute_units + max(compute_units // 4, 20_000)
    return compute_units + max(compute_units // 10, 5_000)


@dataclass
class ComputeBudgets:
    refresh_every: int = 64
    impact_cap: Decimal = Decimal("0.001")  # above this price impact, always simulate
    _seen: dict[BudgetKey, list[int]] = field(default_factory=dict)  # key -> [cu, uses]

    def cached(self, key: BudgetKey, quote: Quote) -> int | None:
        """The compute units learnt for this shape, or None: simulate."""
        found = self._seen.get(key)
        if found is None or quote.price_impact > self.impact_cap:
            return None
        found[1] += 1
        return None if found[1] % self.refresh_every == 0 else found[0]

    def record(self, key: BudgetKey, compute_units: int, quote: Quote) -> None:
        if quote.price_impact <= self.impact_cap:
            found = self._seen.setdefault(key, [compute_units, 0])
            found[0] = max(found[0], compute_units) if found[1] else compute_units

    def clear(self) -> None:
        self._seen.clear()
