"""Compute-unit limits are sized from a simulation of the same shape of transaction: the
first swap of a shape is simulated, later small ones reuse what it used, a swap with a
large price impact is simulated again, and the wallet's funds are checked either way."""

from __future__ import annotations

from decimal import Decimal

import pytest
from solders.keypair import Keypair

from order_engine.chain.port import Simulation
from order_engine.domain.errors import InsufficientFundsError
from order_engine.domain.tokens import TOKENS
from order_engine.venues.chain.base import ChainVenue
from tests.chain_helpers import chain_venues, local_chain

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]


def counting(venue: ChainVenue) -> list[int]:
    calls: list[int] = []
    simulate = venue.chain.simulate

    async def counted(wire: bytes) -> Simulation:
        calls.append(1)
        return await simulate(wire)

    venue.chain.simulate = counted  # type: ignore[method-assign]
    return calls


async def swap(venue: ChainVenue, amount: str, order_id: str) -> int:
    quote = await venue.quote(SOL, USDC, D(amount))
    tx = await venue.build(
        quote, token_in=SOL, token_out=USDC, min_amount_out=quote.amount_out, order_id=order_id
    )
    await venue.submit(tx)
    await venue.confirm(tx.signature, signed=tx.signed)
    details = await venue.chain.transaction(tx.signature)
    assert details is not None and details.err is None
    return details.compute_units


@pytest.mark.parametrize("index", [0, 1], ids=["raydium", "meteora"])
async def test_one_simulation_sizes_every_small_swap_of_a_shape(index: int) -> None:
    wallet = Keypair()
    venue = chain_venues(local_chain(wallet), wallet)[index]
    calls = counting(venue)
    used = [await swap(venue, "1.5", f"o{i}") for i in range(5)]
    assert len(calls) == 1  # the first one only
    assert await swap(venue, "3000", "big") > 0  # a large price impact: simulated
    assert len(calls) == 2
    assert max(used) <= min(used) * 1.1 + 5_000  # the learnt limit covers them all


async def test_without_a_simulation_the_funds_are_still_checked() -> None:
    wallet = Keypair()
    venue = chain_venues(local_chain(wallet, wallet_sol=3), wallet)[0]
    await swap(venue, "1", "first")  # learns the shape
    quote = await venue.quote(SOL, USDC, D("2.5"))
    with pytest.raises(InsufficientFundsError, match=r"2\.5 SOL"):
        await venue.build(
            quote, token_in=SOL, token_out=USDC, min_amount_out=D(1), order_id="too-much"
        )
