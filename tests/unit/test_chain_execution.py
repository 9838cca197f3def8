"""Exactly once, the Solana way, with the executor on the local chain: a dropped send is
landed by sending the same bytes again; a transaction that never lands expires, and only
then is exactly one new one signed; a crash between writing a transaction down and
sending it is recovered by sending those bytes."""

from __future__ import annotations

import contextlib

from solders.keypair import Keypair

from order_engine.chain.faults import ChainFaults
from order_engine.chain.local import LocalChain
from order_engine.chain.memo import ORDER_PREFIX
from order_engine.domain.legs import LegState
from order_engine.venues.base import SwapTransaction
from tests.chain_helpers import chain_venues, local_chain
from tests.unit.fakes import RecordingVenue, Rig


async def landed_swaps(local: LocalChain, order_id: str) -> int:
    count = 0
    for signature in local.chain.signatures_with_memo(f"{ORDER_PREFIX}{order_id}"):
        details = await local.chain.transaction(signature)
        count += details is not None and details.err is None
    return count


def rig_on(faults: ChainFaults) -> tuple[Rig, LocalChain, list[RecordingVenue]]:
    wallet = Keypair()
    local = local_chain(wallet, faults=faults)
    venues = [RecordingVenue(v) for v in chain_venues(local, wallet)]
    return Rig(venues), local, venues


async def test_a_dropped_send_lands_when_the_same_bytes_are_sent_again() -> None:
    rig, local, venues = rig_on(ChainFaults(drop_first_sends=1))
    order_id = await rig.new_order(amount="2")
    assert await rig.run(order_id) == []
    order = await rig.store.get(order_id)
    built = [tx for v in venues for tx in v.built]
    assert [s for s, _ in await rig.statuses(order_id)][-1] == "confirmed"
    assert len(built) == 1 and [leg.tx_hash for leg in order.legs] == [built[0].signature]
    assert await landed_swaps(local, order_id) == 1


async def test_a_transaction_that_never_lands_expires_then_one_new_one_is_signed() -> None:
    rig, local, venues = rig_on(ChainFaults(lose_first_txs=1))
    order_id = await rig.new_order(amount="2")
    raised = await rig.run(order_id)
    order = await rig.store.get(order_id)
    assert [type(e).__name__ for e in raised] == ["VenueUnavailableError"]
    assert [(s, a) for s, a in await rig.statuses(order_id)][-1] == ("confirmed", 2)
    assert [leg.state for leg in order.legs] == [LegState.FAILED, LegState.LANDED]
    assert order.legs[0].tx_hash != order.legs[1].tx_hash
    assert len({tx.signature for v in venues for tx in v.built}) == 2  # one new signature
    assert "expired" in (order.legs[0].reason or "")
    assert await landed_swaps(local, order_id) == 1


class Crash(BaseException):
    """The process dies (after the transaction was written down, before it was sent)."""


async def test_a_crash_before_sending_is_recovered_with_the_same_bytes() -> None:
    rig, local, venues = rig_on(ChainFaults())
    order_id = await rig.new_order(amount="2")

    async def die(tx: SwapTransaction) -> None:
        raise Crash

    originals = [v.submit for v in venues]
    for v in venues:
        v.submit = die  # type: ignore[method-assign]
    with contextlib.suppress(Crash):
        await rig.executor.handle(rig.job(order_id, 1))
    for v, original in zip(venues, originals, strict=True):
        v.submit = original  # type: ignore[method-assign]
    assert (await rig.store.get(order_id)).status.value == "submitted"
    await rig.executor.handle(rig.job(order_id, 1))  # the recovered job
    order = await rig.store.get(order_id)
    statuses = [s for s, _ in await rig.statuses(order_id)]
    assert statuses == ["pending", "routing", "building", "submitted", "confirmed"]
    assert len(order.legs) == 1 and order.legs[0].state is LegState.LANDED
    assert len([tx for v in venues for tx in v.built]) == 1  # nothing signed anew
    assert await landed_swaps(local, order_id) == 1


async def test_a_transaction_signed_for_another_chain_is_never_trusted_nor_resent() -> None:
    rig, _, venues = rig_on(ChainFaults())
    order_id = await rig.new_order(amount="2")

    async def die(tx: SwapTransaction) -> None:
        raise Crash

    for v in venues:
        v.submit = die  # type: ignore[method-assign]
    with contextlib.suppress(Crash):
        await rig.executor.handle(rig.job(order_id, 1))
    wallet = Keypair()
    other = local_chain(wallet, seed=99)  # the chain was replaced (a new genesis)
    moved = Rig(chain_venues(other, wallet), store=rig.store, bus=rig.bus)  # the same orders
    await moved.executor.handle(moved.job(order_id, 1))
    events = await moved.dicts(order_id)
    assert events[-1]["status"] == "failed"
    assert events[-1]["error"]["code"] == "chain_changed"
    assert await landed_swaps(other, order_id) == 0
