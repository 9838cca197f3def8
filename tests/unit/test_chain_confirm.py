"""Confirming a chain swap: a transaction that landed as it was sent is sent and confirmed
in one round trip (the send, its status and its details leave together), and a later look
reads only the status until the transaction is final."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from solders.keypair import Keypair

from order_engine.adapters.rpc_chain import RpcChain
from order_engine.domain.errors import SlippageExceededError
from order_engine.domain.tokens import TOKENS
from order_engine.venues.chain.base import ChainVenue, ChainVenueSettings
from order_engine.venues.chain.outcomes import LookWithSend
from order_engine.venues.chain.raydium import RaydiumChainVenue
from tests.chain_helpers import chain_venues, local_chain
from tests.contract.chain_backends import over_rpc

SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]


class Rounds:
    """Counts the chain reads confirming makes, and the round trips they would take: reads
    started in the same event-loop turn share one (as `RpcBatcher` sends them)."""

    def __init__(self, venue: ChainVenue) -> None:
        self.reads: list[str] = []
        self.rounds = 0
        self.batches: list[list[str]] = []  # the reads of each round trip
        self._in_round = False
        for name in ("send", "signature_statuses", "transaction"):
            setattr(venue.chain, name, self._counted(name, getattr(venue.chain, name)))

    def _counted(self, name: str, read: Any) -> Any:
        async def counted(*args: Any) -> Any:
            self.reads.append(name)
            if not self._in_round:
                self._in_round, self.rounds = True, self.rounds + 1
                self.batches.append([])
                asyncio.get_running_loop().call_soon(self._end_round)
            self.batches[-1].append(name)
            await asyncio.sleep(0.005)  # the network: the reply comes in a later turn
            return await read(*args)

        return counted

    def _end_round(self) -> None:
        self._in_round = False


async def built_swap(venue: ChainVenue, amount: str, order_id: str) -> Any:
    quote = await venue.quote(SOL, USDC, Decimal(amount))
    return await venue.build(
        quote, token_in=SOL, token_out=USDC, min_amount_out=quote.amount_out, order_id=order_id
    )


@pytest.mark.parametrize("index", [0, 1], ids=["raydium", "meteora"])
async def test_a_swap_that_landed_as_it_was_sent_is_confirmed_in_one_round_trip(
    index: int,
) -> None:
    wallet = Keypair()
    venue = chain_venues(local_chain(wallet), wallet)[index]
    tx = await built_swap(venue, "1.5", "o1")
    rounds = Rounds(venue)
    await venue.submit(tx)
    execution = await venue.confirm(tx.signature, signed=tx.signed)
    assert execution.tx_hash == tx.signature and execution.amount_out > 0
    assert rounds.reads == ["send", "signature_statuses", "transaction"]  # in that order
    assert rounds.rounds == 1
    status = await venue.status(tx.signature)  # a status alone reads the details only then
    assert status.execution == execution


async def test_a_reverted_swap_is_explained_from_the_details_read_with_its_status() -> None:
    wallet = Keypair()
    venue = chain_venues(local_chain(wallet), wallet)[0]
    late = await built_swap(venue, "5", "late")
    ahead = await built_swap(venue, "1500", "ahead")  # moves the pool under `late`
    await venue.submit(ahead)
    await venue.confirm(ahead.signature, signed=ahead.signed)
    rounds = Rounds(venue)
    await venue.submit(late)
    with pytest.raises(SlippageExceededError):
        await venue.confirm(late.signature, signed=late.signed)
    assert rounds.rounds == 1 and len(rounds.reads) == 3


async def test_a_swap_not_seen_as_it_was_sent_is_looked_at_again_until_it_lands() -> None:
    """A chain that lands transactions later (slots of their own) answers the look made
    with the send "unknown": the confirmation asks again, as before; after a few such
    sends in a row the venue sends alone (the look would only be wasted calls)."""
    wallet = Keypair()
    venue = chain_venues(local_chain(wallet, instant=False, slot_s=0.05), wallet)[0]
    for n in range(9):
        tx = await built_swap(venue, "0.5", f"o{n}")
        rounds = Rounds(venue)
        await venue.submit(tx)
        assert venue._first_looks == {}  # nothing known yet: nothing kept
        execution = await venue.confirm(tx.signature, signed=tx.signed)
        assert execution.tx_hash == tx.signature and execution.amount_out > 0
        assert rounds.rounds > 1 and rounds.reads.count("send") == 1
        with_send = rounds.batches[0] == ["send", "signature_statuses", "transaction"]
        assert with_send == (n < 8), (n, rounds.batches)
        assert with_send or rounds.batches[0] == ["send"]


def test_looking_with_the_send_stops_after_misses_in_a_row_and_probes_meanwhile() -> None:
    policy = LookWithSend(misses_off=3, probe_every=4)
    for found in (False, False, True, False, False):  # a find resets the count
        assert policy.now()
        policy.found(found)
    assert policy.now()
    policy.found(False)  # the third miss in a row
    asked = [policy.now() for _ in range(8)]
    assert asked == [False, False, False, True] * 2  # every fourth send looks again
    policy.found(True)
    assert all(policy.now() for _ in range(5))


async def test_over_json_rpc_a_swap_is_sent_and_confirmed_in_one_http_request() -> None:
    """The send and the look leave in one JSON-RPC batch, in that order; the localnet
    answers them in order, so the look already sees the swap landed."""
    wallet = Keypair()
    local = local_chain(wallet)
    async with over_rpc(local) as rpc:
        assert isinstance(rpc, RpcChain)
        by_mint = local.launches.tokens.by_mint
        venue = RaydiumChainVenue("raydium", rpc, wallet, by_mint, ChainVenueSettings(poll_s=0))
        tx = await built_swap(venue, "1.5", "o3")
        before = rpc.round_trips
        await venue.submit(tx)
        execution = await venue.confirm(tx.signature, signed=tx.signed)
        assert execution.tx_hash == tx.signature and execution.amount_out > 0
        assert rpc.round_trips - before == 1


async def test_a_sent_swap_whose_details_are_not_there_yet_is_sent_and_confirmed() -> None:
    """The look made with the send finds the swap landed but its details not served yet
    (a node that indexes them a moment later): the send still succeeded (no error from
    `submit`), and the confirmation reads them when they come."""
    wallet = Keypair()
    venue = chain_venues(local_chain(wallet), wallet)[0]
    tx = await built_swap(venue, "1.5", "o9")
    served = venue.chain.transaction
    missing = 2  # the batch's read and the look's own read of the details

    async def late(signature: str) -> Any:
        nonlocal missing
        if missing:
            missing -= 1
            return None
        return await served(signature)

    venue.chain.transaction = late  # type: ignore[method-assign]
    await venue.submit(tx)
    assert venue._first_looks == {}
    execution = await venue.confirm(tx.signature, signed=tx.signed)
    assert execution.tx_hash == tx.signature and execution.amount_out > 0
