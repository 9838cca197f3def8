"""One contract for every `Venue`: the simulated Raydium and Meteora, and the chain venues
on the real Raydium CPMM and Meteora DLMM programs.

quote → build → submit → confirm → status; a minimum out the pool cannot meet fails as
slippage and executes nothing; an unknown signature is unknown; sending the same
transaction again never executes it twice."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from solders.keypair import Keypair

from order_engine.chain.memo import ORDER_PREFIX
from order_engine.domain.errors import SlippageExceededError
from order_engine.domain.tokens import TOKENS, TokenRegistry
from order_engine.venues.base import SwapTransaction, TxState, Venue
from order_engine.venues.chain.base import ChainVenue
from order_engine.venues.sim.ledger import InMemorySwapLedger
from order_engine.venues.sim.simulated import simulated_venues
from tests.chain_helpers import chain_venues, local_chain

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]
UNKNOWN_SIGNATURE = "5" * 87


@dataclass
class VenueUnderTest:
    venue: Venue
    executions: Callable[[str], Awaitable[int]]  # swaps landed for an order id


def _sim(index: int) -> VenueUnderTest:
    ledger = InMemorySwapLedger()
    venue = simulated_venues(seed=3, latency_scale=0, ledger=ledger, tokens=TokenRegistry())[index]

    async def executions(order_id: str) -> int:
        return sum(1 for e in await ledger.entries(order_id) if e.execution is not None)

    return VenueUnderTest(venue, executions)


def _chain(index: int) -> VenueUnderTest:
    wallet = Keypair()
    local = local_chain(wallet)
    venue = chain_venues(local, wallet)[index]

    async def executions(order_id: str) -> int:
        landed = 0
        for signature in local.chain.signatures_with_memo(f"{ORDER_PREFIX}{order_id}"):
            details = await local.chain.transaction(signature)
            landed += details is not None and details.err is None
        return landed

    return VenueUnderTest(venue, executions)


@pytest.fixture(params=["sim-raydium", "sim-meteora", "chain-raydium", "chain-meteora"])
async def under_test(request: pytest.FixtureRequest) -> AsyncIterator[VenueUnderTest]:
    kind, name = str(request.param).split("-")
    index = 0 if name == "raydium" else 1
    made = _sim(index) if kind == "sim" else _chain(index)
    assert made.venue.name == name
    yield made


async def _build(v: Venue, amount: str, min_out: Decimal | None, order_id: str) -> SwapTransaction:
    quote = await v.quote(SOL, USDC, D(amount))
    floor = quote.amount_out * D("0.99") if min_out is None else min_out
    return await v.build(
        quote, token_in=SOL, token_out=USDC, min_amount_out=floor.quantize(D("0.000001")),
        order_id=order_id,
    )  # fmt: skip


async def test_a_quote_prices_the_pair(under_test: VenueUnderTest) -> None:
    v = under_test.venue
    curve = await v.curve(SOL, USDC)
    quote = curve.quote(D("2"))
    assert quote.venue == v.name and (quote.token_in, quote.token_out) == ("SOL", "USDC")
    assert D(100) < quote.amount_out / 2 < D(200)  # about 150 USDC per SOL
    assert D(0) <= quote.fee < D("0.01") and quote.price > 0
    assert quote.expires_at_ms is not None
    bigger = curve.quote(D("200"))
    assert bigger.amount_out / 200 <= quote.amount_out / 2  # price impact never helps


async def test_a_swap_lands_once_and_its_status_says_so(under_test: VenueUnderTest) -> None:
    v = under_test.venue
    tx = await _build(v, "1.5", None, "ord-landed")
    await v.submit(tx)
    execution = await v.confirm(tx.signature)
    assert execution.dex == v.name and execution.tx_hash == tx.signature
    assert execution.amount_out >= tx.min_amount_out
    status = await v.status(tx.signature)
    assert status.state is TxState.LANDED and status.execution == execution
    await v.submit(tx)  # the same transaction again
    assert (await v.status(tx.signature)).execution == execution
    assert await under_test.executions("ord-landed") == 1


async def test_a_minimum_the_pool_cannot_meet_is_slippage_and_executes_nothing(
    under_test: VenueUnderTest,
) -> None:
    v = under_test.venue
    quote = await v.quote(SOL, USDC, D("1"))
    with pytest.raises(SlippageExceededError):
        tx = await _build(v, "1", quote.amount_out * 2, "ord-slip")
        await v.submit(tx)
        await v.confirm(tx.signature)
    assert await under_test.executions("ord-slip") == 0


async def test_an_unknown_signature_is_unknown(under_test: VenueUnderTest) -> None:
    status = await under_test.venue.status(UNKNOWN_SIGNATURE)
    assert status.state is TxState.UNKNOWN and status.execution is None


@pytest.mark.parametrize("index", [0, 1], ids=["raydium", "meteora"])
async def test_the_chain_venues_execute_exactly_their_quote(index: int) -> None:
    v = _chain(index).venue
    assert isinstance(v, ChainVenue)
    for amount, (t_in, t_out) in (("3.25", (SOL, USDC)), ("777.5", (USDC, SOL))):
        quote = await v.quote(t_in, t_out, D(amount))
        tx = await v.build(
            quote, token_in=t_in, token_out=t_out, min_amount_out=quote.amount_out,
            order_id="ord-exact",
        )  # fmt: skip
        await v.submit(tx)
        assert (await v.confirm(tx.signature)).amount_out == quote.amount_out


@pytest.mark.parametrize(
    ("index", "code"), [(0, 6005), (1, 6003)], ids=["raydium-6005", "meteora-6003"]
)
async def test_a_swap_the_pool_moved_under_reverts_on_chain_as_slippage(
    index: int, code: int
) -> None:
    made = _chain(index)
    v = made.venue
    assert isinstance(v, ChainVenue)
    quote = await v.quote(SOL, USDC, D("5"))
    late = await v.build(
        quote, token_in=SOL, token_out=USDC, min_amount_out=quote.amount_out, order_id="ord-late"
    )
    ahead = await _build(v, "1500", None, "ord-ahead")  # another order moves the pool first
    await v.submit(ahead)
    await v.confirm(ahead.signature, signed=ahead.signed)
    await v.submit(late)
    with pytest.raises(SlippageExceededError):
        await v.confirm(late.signature, signed=late.signed)
    status = await v.status(late.signature)
    details = await v.chain.transaction(late.signature)
    assert status.state is TxState.REVERTED and status.reason == "slippage exceeded"
    assert details is not None and details.custom_error == code and details.fee > 0
    assert await made.executions("ord-late") == 0
