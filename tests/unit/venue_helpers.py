"""Shared helpers for the simulated-venue tests."""

from __future__ import annotations

from decimal import Decimal

from order_engine.domain.tokens import TOKENS, Token
from order_engine.venues.base import SwapTransaction
from order_engine.venues.ledger import InMemorySwapLedger
from order_engine.venues.simulated import RAYDIUM, SimulatedVenue, VenueProfile

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]


def venue(
    profile: VenueProfile = RAYDIUM, *, seed: int = 42, failure_rate: float = 0.0
) -> SimulatedVenue:
    return SimulatedVenue(profile, seed=seed, latency_scale=0, failure_rate=failure_rate)


def landed_count(v: SimulatedVenue) -> int:
    chain = v.ledger
    assert isinstance(chain, InMemorySwapLedger)
    return chain.landed_count


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
    floor = q.amount_out * D("0.99") if min_out is None else min_out
    return await v.build(
        q, token_in=token_in, token_out=token_out, min_amount_out=floor, order_id=order_id
    )
