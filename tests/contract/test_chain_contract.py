"""One contract for every `Chain`: the in-process chain, and the same chain served by
`order-engine localnet` and read through `RpcChain` (Solana JSON-RPC)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from order_engine.chain import spl
from order_engine.chain.port import BLOCKHASH_VALID_SLOTS, Chain, Commitment
from order_engine.domain.tokens import TOKENS, TokenRegistry
from order_engine.venues.chain.meteora import MeteoraChainVenue
from order_engine.venues.chain.raydium import RaydiumChainVenue
from tests.chain_helpers import local_chain
from tests.contract.chain_backends import CHAIN_BACKENDS

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]
RENT_FREE = 1_000_000


@dataclass
class Under:
    chain: Chain
    wallet: Keypair


@pytest.fixture(params=sorted(CHAIN_BACKENDS))
async def under(request: pytest.FixtureRequest) -> AsyncIterator[Under]:
    wallet = Keypair()
    local = local_chain(wallet)
    async with CHAIN_BACKENDS[request.param](local) as chain:
        yield Under(chain, wallet)


async def transfer(chain: Chain, wallet: Keypair, to: Pubkey, lamports: int) -> bytes:
    latest = await chain.latest_blockhash()
    ix = spl.transfer_lamports(wallet.pubkey(), to, lamports)
    message = Message.new_with_blockhash([ix], wallet.pubkey(), latest.blockhash)
    return bytes(Transaction([wallet], message, latest.blockhash))


async def landed(chain: Chain, signature: str) -> None:
    for _ in range(500):
        (status,) = await chain.signature_statuses([signature])
        if status is not None and status.commitment is not Commitment.PROCESSED:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"{signature} did not land")


async def test_clock_and_blockhash(under: Under) -> None:
    chain = under.chain
    latest = await chain.latest_blockhash()
    height = await chain.block_height()
    assert height <= latest.last_valid_block_height <= height + BLOCKHASH_VALID_SLOTS
    assert await chain.slot() >= 1 and await chain.unix_time() > 1_700_000_000
    assert len(chain.genesis_hash) >= 32


async def test_accounts_and_balances(under: Under) -> None:
    chain, me = under.chain, under.wallet.pubkey()
    wallet, missing = await chain.accounts([me, Pubkey.new_unique()])
    assert wallet is not None and wallet.lamports == await chain.balance(me) > 0
    assert missing is None


async def test_a_transfer_lands_once_with_its_details(under: Under) -> None:
    chain, to = under.chain, Pubkey.new_unique()
    wire = await transfer(chain, under.wallet, to, RENT_FREE)
    simulation = await chain.simulate(wire)
    assert simulation.err is None and simulation.compute_units > 0
    signature = await chain.send(wire)
    assert await chain.send(wire) == signature  # the same bytes again
    await landed(chain, signature)
    assert await chain.balance(to) == RENT_FREE
    details = await chain.transaction(signature)
    assert details is not None and details.err is None and details.fee >= 5_000
    assert details.lamport_delta(to) == RENT_FREE
    assert details.lamport_delta(under.wallet.pubkey()) == -RENT_FREE - details.fee


async def test_a_failing_transaction_simulates_its_error(under: Under) -> None:
    chain = under.chain
    too_much = await chain.balance(under.wallet.pubkey()) * 2
    simulation = await chain.simulate(
        await transfer(chain, under.wallet, Pubkey.new_unique(), too_much)
    )
    assert simulation.err is not None and simulation.custom_error == 1


async def test_an_unknown_signature_is_unknown(under: Under) -> None:
    unknown = str(Keypair().sign_message(b"never sent"))
    assert await under.chain.signature_statuses([unknown]) == [None]
    assert await under.chain.transaction(unknown) is None


@pytest.mark.parametrize("venue", [RaydiumChainVenue, MeteoraChainVenue])
async def test_a_swap_executes_its_exact_quote(
    under: Under, venue: type[RaydiumChainVenue | MeteoraChainVenue]
) -> None:
    v = venue("raydium" if venue is RaydiumChainVenue else "meteora", under.chain,
              under.wallet, TokenRegistry().by_mint)  # fmt: skip
    quote = await v.quote(SOL, USDC, D("2"))
    tx = await v.build(
        quote, token_in=SOL, token_out=USDC, min_amount_out=quote.amount_out, order_id="c-1"
    )
    await v.submit(tx)
    execution = await v.confirm(tx.signature, signed=tx.signed)
    assert execution.amount_out == quote.amount_out and execution.receipt is not None
    details = await under.chain.transaction(tx.signature)
    assert details is not None and details.memo == "order:c-1"
    assert details.token_delta(under.wallet.pubkey(), USDC_MINT) == int(quote.amount_out * 10**6)


USDC_MINT = Pubkey.from_string(USDC.mint)
