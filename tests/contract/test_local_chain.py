"""The local chain behaves like Solana: slots, a 150-slot blockhash window, processed →
confirmed → finalized, a signature executes once; injected faults; durable across a
restart (journal and snapshots), and a chain of another genesis is refused."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from order_engine.chain import inprocess, spl
from order_engine.chain.faults import ChainFaults
from order_engine.chain.inprocess import InProcessChain
from order_engine.chain.local import ChainMismatchError
from order_engine.chain.port import BLOCKHASH_VALID_SLOTS, CLOCK_SYSVAR, Commitment, clock_unix
from order_engine.domain.errors import ChainUnavailableError, TransactionRejectedError
from order_engine.domain.tokens import TOKENS
from tests.chain_helpers import chain_venues, local_chain

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]
RENT_FREE = 1_000_000  # lamports: a new system account holds at least its rent exemption


class FakeTime:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def transfer(
    chain: InProcessChain, wallet: Keypair, to: Pubkey, lamports: int, blockhash: Hash | None = None
) -> bytes:
    recent = blockhash or (await chain.latest_blockhash()).blockhash
    ix = spl.transfer_lamports(wallet.pubkey(), to, lamports)
    message = Message.new_with_blockhash([ix], wallet.pubkey(), recent)
    return bytes(Transaction([wallet], message, recent))


async def test_a_signature_executes_once() -> None:
    wallet, to = Keypair(), Pubkey.new_unique()
    chain = local_chain(wallet).chain
    wire = await transfer(chain, wallet, to, 1_000_000)
    first = await chain.send(wire)
    assert await chain.send(wire) == first  # the same bytes again
    assert await chain.balance(to) == 1_000_000
    (status,) = await chain.signature_statuses([first])
    assert status is not None and status.succeeded


async def test_the_clock_sysvar_follows_the_slot_and_the_time() -> None:
    """What the programs read as the clock is the slot and time of each read, whether the
    wall clock moved, the chain's time was advanced, or nothing moved at all."""
    clock, wallet = FakeTime(), Keypair()
    start = clock.t
    chain = local_chain(wallet, slot_s=0.4, now=clock).chain

    async def shown() -> tuple[int, int]:
        (found,) = await chain.accounts([CLOCK_SYSVAR])
        assert found is not None
        return int.from_bytes(found.data[:8], "little"), clock_unix(found.data)

    def slot_now() -> int:
        return 1 + int((clock.t - start) / 0.4)

    clock.t += 100.1
    assert await shown() == (slot_now(), int(clock.t))
    assert (await chain.slot(), await chain.unix_time()) == (slot_now(), int(clock.t))
    assert await shown() == (slot_now(), int(clock.t))  # nothing moved
    clock.t += 0.85  # two slots, the same second
    assert await shown() == (slot_now(), int(clock.t))
    clock.t += 10
    assert await shown() == (slot_now(), int(clock.t))
    chain.advance_time(100)
    assert await shown() == (slot_now(), int(clock.t) + 100)
    clock.t += 50  # the wall clock is still behind the advanced time: it does not move it
    assert await shown() == (slot_now(), int(clock.t) + 50)


async def test_a_blockhash_is_valid_for_150_slots() -> None:
    wallet, clock = Keypair(), FakeTime()
    chain = local_chain(wallet, slot_s=0.4, now=clock).chain  # lands at once, 400 ms slots
    latest = await chain.latest_blockhash()
    assert latest.last_valid_block_height == await chain.block_height() + BLOCKHASH_VALID_SLOTS
    old = latest.blockhash
    clock.t += 0.4 * BLOCKHASH_VALID_SLOTS  # the last slot it is valid in
    assert await chain.block_height() == latest.last_valid_block_height
    await chain.send(await transfer(chain, wallet, Pubkey.new_unique(), RENT_FREE, old))
    clock.t += 0.4  # one slot more
    with pytest.raises(TransactionRejectedError, match="blockhash"):
        await chain.send(await transfer(chain, wallet, Pubkey.new_unique(), RENT_FREE, old))


async def test_a_transaction_lands_at_the_next_slot_and_confirms_after() -> None:
    wallet, to, clock = Keypair(), Pubkey.new_unique(), FakeTime()
    chain = local_chain(wallet, slot_s=0.4, instant=False, now=clock).chain
    clock.t += 1
    signature = await chain.send(await transfer(chain, wallet, to, RENT_FREE))
    assert await chain.signature_statuses([signature]) == [None]  # not before its slot
    clock.t += 0.4
    (processed,) = await chain.signature_statuses([signature])
    assert processed is not None and processed.commitment is Commitment.PROCESSED
    clock.t += 0.4
    (confirmed,) = await chain.signature_statuses([signature])
    assert confirmed is not None and confirmed.commitment is Commitment.CONFIRMED
    clock.t += 0.4 * 32
    (final,) = await chain.signature_statuses([signature])
    assert final is not None and final.commitment is Commitment.FINALIZED
    assert await chain.balance(to) == RENT_FREE


async def test_injected_faults() -> None:
    wallet, to = Keypair(), Pubkey.new_unique()
    chain = local_chain(wallet, faults=ChainFaults(drop_first_sends=1, lose_first_txs=0)).chain
    wire = await transfer(chain, wallet, to, RENT_FREE)
    signature = await chain.send(wire)  # dropped
    assert await chain.signature_statuses([signature]) == [None]
    await chain.send(wire)  # the resend lands
    assert await chain.balance(to) == RENT_FREE
    lost = local_chain(Keypair(), faults=ChainFaults(lose_first_txs=1)).chain
    for _ in range(3):
        await lost.send(await transfer(lost, wallet, to, RENT_FREE))  # signed anew each time
    broken = local_chain(wallet, faults=ChainFaults(read_error_rate=1.0)).chain
    with pytest.raises(ChainUnavailableError):
        await broken.slot()
    failing = local_chain(wallet, faults=ChainFaults(send_error_rate=1.0)).chain
    with pytest.raises(ChainUnavailableError):
        await failing.send(await transfer(local_chain(wallet).chain, wallet, to, RENT_FREE))


async def test_a_landing_delay_holds_the_transaction_back() -> None:
    wallet, to, clock = Keypair(), Pubkey.new_unique(), FakeTime()
    faults = ChainFaults(landing_delay_slots=3)
    chain = local_chain(wallet, slot_s=0.4, instant=False, now=clock, faults=faults).chain
    clock.t += 1
    signature = await chain.send(await transfer(chain, wallet, to, RENT_FREE))
    clock.t += 0.4 * 3
    assert await chain.signature_statuses([signature]) == [None]
    clock.t += 0.4
    assert (await chain.signature_statuses([signature]))[0] is not None


@pytest.mark.parametrize("snapshot_every", [2_000, 3], ids=["journal", "snapshot+journal"])
async def test_the_chain_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_every: int
) -> None:
    monkeypatch.setattr(inprocess, "SNAPSHOT_EVERY", snapshot_every)
    wallet = Keypair()
    # 50 ms slots: the swaps' blockhashes still valid (7.5 s) when their bytes are sent
    # again after the restart, on a loaded machine too (at 2 ms they lived 0.3 s)
    local = local_chain(wallet, data_dir=tmp_path, slot_s=0.05)
    raydium, meteora = chain_venues(local, wallet)
    signatures = []
    for venue in (raydium, meteora):
        quote = await venue.quote(SOL, USDC, D("4"))
        tx = await venue.build(
            quote, token_in=SOL, token_out=USDC, min_amount_out=quote.amount_out, order_id="o"
        )
        await venue.submit(tx)
        await venue.confirm(tx.signature)
        signatures.append(tx)
    before = await raydium.holding(USDC), await raydium.holding(SOL)
    pool_before = (await raydium.curve(SOL, USDC)).quote(D(1)).amount_out
    await local.chain.close()

    again = local_chain(wallet, data_dir=tmp_path, slot_s=0.05)
    assert again.restored
    raydium2, _ = chain_venues(again, wallet)
    assert (await raydium2.holding(USDC), await raydium2.holding(SOL)) == before
    assert (await raydium2.curve(SOL, USDC)).quote(D(1)).amount_out == pool_before
    for tx in signatures:
        status = await raydium2.status(tx.signature)
        assert status.execution is not None  # still known, landed
        assert tx.signed is not None
        await again.chain.send(base64.b64decode(tx.signed.wire))  # never executes again
    assert (await raydium2.holding(USDC), await raydium2.holding(SOL)) == before
    assert len(again.chain.signatures_with_memo("order:o")) == 2
    await again.chain.close()
    with pytest.raises(ChainMismatchError, match="another chain"):
        local_chain(wallet, data_dir=tmp_path, seed=8)


async def test_a_restart_right_after_genesis_swaps_on_raydium_at_once(tmp_path: Path) -> None:
    """Raydium pools open one second after their `initialize`, and genesis moves the clock
    past that; a chain reopened within that second (`serve`'s preflight builds the chain
    and stops, then the server reopens it) kept the wall clock instead, and every Raydium
    swap failed `NotApproved` (6000) until the next second. The clock never goes back."""
    wallet, clock = Keypair(), FakeTime()
    local = local_chain(wallet, data_dir=tmp_path, now=clock)
    made_at = await local.chain.unix_time()
    await local.chain.close()

    again = local_chain(wallet, data_dir=tmp_path, now=clock)  # the same instant
    assert again.restored
    assert await again.chain.unix_time() >= made_at
    raydium, _ = chain_venues(again, wallet)
    quote = await raydium.quote(SOL, USDC, D("1"))
    tx = await raydium.build(
        quote, token_in=SOL, token_out=USDC, min_amount_out=quote.amount_out, order_id="o"
    )
    await raydium.submit(tx)
    assert (await raydium.confirm(tx.signature)).amount_out == quote.amount_out
    await again.chain.close()
