"""Shared helpers for the simulated-venue tests."""

from __future__ import annotations

from decimal import Decimal

from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import TOKENS, Token
from order_engine.venues.base import SwapTransaction
from order_engine.venues.sim.ledger import InMemorySwapLedger
from order_engine.venues.sim.market import ReferencePrices
from order_engine.venues.sim.simulated import RAYDIUM, SimulatedVenue, VenueProfile

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]


class Clock:
    """A wall clock (seconds) the test moves by hand."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.time = start

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


def venue(
    profile: VenueProfile = RAYDIUM,
    *,
    seed: int = 42,
    failure_rate: float = 0.0,
    now: Clock | None = None,
    prices: ReferencePrices | None = None,
) -> SimulatedVenue:
    """A venue without latency, on a fixed clock (so quotes, expiry included, repeat), on
    `prices` (default: a market, and token registry, of its own)."""
    clock = Clock() if now is None else now
    return SimulatedVenue(
        profile, seed=seed, latency_scale=0, failure_rate=failure_rate, now=clock, prices=prices
    )


def landed_count(v: SimulatedVenue) -> int:
    chain = v.ledger
    assert isinstance(chain, InMemorySwapLedger)
    return chain.landed_count


async def build_for(
    v: SimulatedVenue,
    q: Quote,
    *,
    min_out: Decimal | None = None,
    order_id: str = "ord-1",
) -> SwapTransaction:
    """A transaction for an existing quote (default minimum: 1% below it)."""
    tokens = v.prices.tokens
    token_in = tokens.find(q.token_in, field="tokenIn")
    token_out = tokens.find(q.token_out, field="tokenOut")
    floor = q.amount_out * D("0.99") if min_out is None else min_out
    return await v.build(
        q, token_in=token_in, token_out=token_out, min_amount_out=floor, order_id=order_id
    )


async def built(
    v: SimulatedVenue,
    token_in: Token = SOL,
    token_out: Token = USDC,
    amount: str = "1.5",
    *,
    min_out: Decimal | None = None,
    order_id: str = "ord-1",
) -> SwapTransaction:
    q = await v.quote(token_in, token_out, D(amount))
    return await build_for(v, q, min_out=min_out, order_id=order_id)
