"""A chain venue's build: for a swap whose compute units it learnt, the blockhash and the
wallet's funds check are read together (one round trip on a batching chain); a pool that
takes no swaps yet is a transient refusal, not a rejection."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from order_engine.chain.port import Simulation
from order_engine.domain.errors import TransactionRejectedError, VenueUnavailableError
from tests.unit.test_chain_in_flight import SOL, USDC, build, venue

D = Decimal


class Overlap:
    """A chain that holds `latest_blockhash` until an account read has started: a build
    that reads them one after the other never gets its blockhash (times out)."""

    def __init__(self, chain: object) -> None:
        self._chain, self.reading = chain, asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._chain, name)

    async def accounts(self, keys: list[object]) -> object:
        self.reading.set()
        return await self._chain.accounts(keys)  # type: ignore[attr-defined]

    async def latest_blockhash(self) -> object:
        await asyncio.wait_for(self.reading.wait(), timeout=2)
        return await self._chain.latest_blockhash()  # type: ignore[attr-defined]


async def test_a_learnt_shape_reads_the_blockhash_and_the_funds_together() -> None:
    v = venue(0)
    first = await build(v, await v.quote(SOL, USDC, D("1")), "ord-learns")  # simulated
    overlap = Overlap(v.chain)
    v.chain = v.wallets.chain = overlap  # type: ignore[assignment]
    quote = await v.quote(SOL, USDC, D("1"))
    overlap.reading.clear()  # only the build's own reads count
    second = await build(v, quote, "ord-learnt")
    assert second.signed is not None and second.signature != first.signature


class NotOpen:
    """A chain whose simulations answer as Raydium does for a pool before its open_time."""

    def __init__(self, chain: object) -> None:
        self._chain = chain

    def __getattr__(self, name: str) -> object:
        return getattr(self._chain, name)

    async def simulate(self, wire: bytes, *, sig_verify: bool = True) -> Simulation:
        err = "TransactionErrorInstructionError((5, Tagged(InstructionErrorCustom(6000))))"
        return Simulation(err, 6000, 20_000, ("Program log: AnchorError: NotApproved",))


async def test_a_pool_that_takes_no_swaps_yet_is_transient_not_a_rejection() -> None:
    v = venue(0)  # raydium
    v.chain = NotOpen(v.chain)  # type: ignore[assignment]
    with pytest.raises(VenueUnavailableError, match="takes no swaps now") as raised:
        await build(v, await v.quote(SOL, USDC, D("1")), "ord-early")
    assert not isinstance(raised.value, TransactionRejectedError)
