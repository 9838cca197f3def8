"""A chain venue prices a pool behind this process's own swaps in flight on it: a swap
quoted while another is signed and on its way gets what the pool will pay once that one
landed, so it lands instead of reverting on its minimum out; a swap stops counting when its
confirmation ends, or when it was never sent."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal

import pytest
from solders.keypair import Keypair

from order_engine.domain.errors import (
    NoRouteError,
    SlippageExceededError,
    TransientExecutionError,
)
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import TOKENS
from order_engine.venues.base import SwapTransaction
from order_engine.venues.chain.base import ChainVenue
from order_engine.venues.chain.inflight import InFlightSwaps, chosen_key
from order_engine.venues.chain.inflight_board import LocalInFlightBoard
from tests.chain_helpers import chain_venues, local_chain

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]
AMOUNT = D("400")  # SOL: enough to cross the DLMM pair's bins
VENUES = pytest.mark.parametrize("index", [0, 1], ids=["raydium", "meteora"])


def venue(index: int) -> ChainVenue:
    wallet = Keypair()
    return chain_venues(local_chain(wallet), wallet)[index]


async def build(v: ChainVenue, quote: Quote, order_id: str) -> SwapTransaction:
    """At exactly the quoted output: any move of the pool under it reverts it."""
    return await v.build(
        quote, token_in=SOL, token_out=USDC, min_amount_out=quote.amount_out, order_id=order_id
    )


@VENUES
async def test_a_swap_quoted_behind_one_in_flight_lands_at_its_quote(index: int) -> None:
    v = venue(index)
    first = await build(v, await v.quote(SOL, USDC, AMOUNT), "ord-first")
    as_read = (await v.read_curve(SOL, USDC)).quote(AMOUNT)
    behind = await v.quote(SOL, USDC, AMOUNT)
    assert behind.amount_out < as_read.amount_out  # priced after the first lands
    assert behind.ahead_amount_in == AMOUNT and as_read.ahead_amount_in == 0
    assert D(behind.as_dict()["aheadAmountIn"]) == AMOUNT
    assert "aheadAmountIn" not in as_read.as_dict()
    second = await build(v, behind, "ord-second")
    for tx in (first, second):
        await v.submit(tx)
    await v.confirm(first.signature, signed=first.signed)
    got = await v.confirm(second.signature, signed=second.signed)
    assert got.amount_out == behind.amount_out  # exactly: the pool after the first, modelled
    assert len(v.in_flight) == 0


@VENUES
async def test_without_the_count_the_same_swap_reverts(index: int) -> None:
    v = venue(index)
    first = await build(v, await v.quote(SOL, USDC, AMOUNT), "ord-first")
    second = await build(v, (await v.read_curve(SOL, USDC)).quote(AMOUNT), "ord-second")
    for tx in (first, second):
        await v.submit(tx)
    await v.confirm(first.signature, signed=first.signed)
    with pytest.raises(SlippageExceededError):
        await v.confirm(second.signature, signed=second.signed)
    assert len(v.in_flight) == 0  # a revert ends it too


@VENUES
async def test_only_swaps_in_the_same_direction_count(index: int) -> None:
    v = venue(index)
    await v.build(
        await v.quote(USDC, SOL, D("4000")), token_in=USDC, token_out=SOL,
        min_amount_out=D("0"), order_id="ord-other-way",
    )  # fmt: skip
    as_read = (await v.read_curve(SOL, USDC)).quote(AMOUNT)
    assert (await v.quote(SOL, USDC, AMOUNT)).amount_out == as_read.amount_out


def test_choices_signed_swaps_and_their_ends() -> None:
    clock = [0.0]
    swaps = InFlightSwaps(chosen_ttl_s=2, unsent_ttl_s=10, sent_ttl_s=100, now=lambda: clock[0])
    sol_usdc = ("SOL", "USDC")
    swaps.chosen("gone", sol_usdc, D(1))  # chosen, never signed
    swaps.chosen("stopped", sol_usdc, D(2))  # chosen, its attempt stopped
    swaps.chosen("signs", sol_usdc, D(3))
    swaps.signed("sig-unsent", "signs", sol_usdc, D(3))  # replaces its choice
    swaps.signed("sig-sent", "other", sol_usdc, D(7))
    swaps.sent("sig-sent")
    assert swaps.ahead(sol_usdc) == 13 and swaps.ahead(("USDC", "SOL")) == 0
    assert swaps.ahead(sol_usdc, besides="stopped") == 11  # an order is not behind itself
    swaps.release("stopped")
    assert swaps.ahead(sol_usdc) == 11
    clock[0] = 2.0
    assert swaps.ahead(sol_usdc) == 10  # the unsigned choice: forgotten
    clock[0] = 10.0
    assert swaps.ahead(sol_usdc) == 7  # signed, never sent: forgotten
    swaps.done("sig-sent")
    assert swaps.ahead(sol_usdc) == 0 and len(swaps) == 0


def test_the_kept_totals_match_the_swaps_through_any_sequence_of_changes() -> None:
    """Totals are kept as swaps come and go (not summed per question): after every step of
    a random sequence they equal the sums over the swaps still counted, and `on_change`
    was told of every change."""
    rng, clock, changes = random.Random(5), [0.0], [0]
    swaps = InFlightSwaps(
        chosen_ttl_s=2, unsent_ttl_s=5, sent_ttl_s=20, now=lambda: clock[0],
        on_change=lambda: changes.__setitem__(0, changes[0] + 1),
    )  # fmt: skip
    directions, orders = [("SOL", "USDC"), ("USDC", "SOL")], [f"o{i}" for i in range(8)]
    live: dict[str, tuple[tuple[str, str], Decimal, float]] = {}  # the model: key -> swap
    for step in range(2_000):
        order, direction = rng.choice(orders), rng.choice(directions)
        amount, op = D(rng.randint(1, 10**6)).scaleb(-9), rng.randrange(6)
        before = changes[0]
        if op == 0:
            swaps.chosen(order, direction, amount)
            live[chosen_key(order, direction)] = (direction, amount, clock[0] + 2)
        elif op == 1:
            sig = f"sig{step}"
            swaps.signed(sig, order, direction, amount)
            live.pop(chosen_key(order, direction), None)
            live[sig] = (direction, amount, clock[0] + 5)
        elif op == 2 and live:
            key = rng.choice(sorted(live))
            swaps.sent(key)
            live[key] = (live[key][0], live[key][1], clock[0] + 20)
        elif op == 3 and live:
            key = rng.choice(sorted(live))
            swaps.done(key)
            live.pop(key)
        elif op == 4:
            swaps.release(order)
            live = {k: v for k, v in live.items() if not k.startswith(f"{order} ")}
        else:
            clock[0] += rng.random()
        live = {k: v for k, v in live.items() if v[2] > clock[0]}
        for d in directions:
            expected = sum((a for dd, a, _ in live.values() if dd == d), D(0))
            assert swaps.ahead(d) == expected, step
            mine = live.get(chosen_key(order, d))
            assert swaps.ahead(d, besides=order) == expected - (mine[1] if mine else 0)
        assert swaps.totals() == {
            d: t
            for d in directions
            if (t := sum((a for dd, a, _ in live.values() if dd == d), D(0)))
        }
        assert len(swaps) == len(live)
        assert op not in (0, 1) or changes[0] > before


def test_a_read_answered_before_a_landing_still_prices_behind_that_swap() -> None:
    swaps = InFlightSwaps()
    sell, buy = ("SOL", "USDC"), ("USDC", "SOL")
    swaps.signed("sig-a", "a", sell, D(3))
    swaps.signed("sig-b", "b", buy, D(5))
    before = swaps.mark()  # a read answered now holds neither
    swaps.landed("sig-a")
    swaps.landed("sig-b")
    swaps.signed("sig-c", "c", sell, D(7))
    after = swaps.mark()  # a read answered now holds a and b
    assert swaps.ahead(sell) == 7  # in flight: c
    assert swaps.ahead(sell, since=before) == 10 and swaps.ahead(buy, since=before) == 5
    assert swaps.ahead(sell, since=after) == 7 and swaps.ahead(buy, since=after) == 0
    swaps.done("sig-c")  # reverted (or given up on): it never was in any pool
    assert swaps.ahead(sell, since=before) == 3 and len(swaps) == 0
    swaps.landed("sig-unknown")  # not counted here: nothing to remember
    assert swaps.ahead(sell, since=after) == 0


@VENUES
async def test_a_swap_that_lands_between_a_read_and_its_quote_is_priced_behind(
    index: int,
) -> None:
    """A read answered, then another order's swap lands and its confirmation ends, then
    the read is quoted (it waited for the other pools): the read does not hold that swap
    and it is no longer in flight; the quote still prices behind it, exactly."""
    v = venue(index)
    first = await build(v, await v.quote(SOL, USDC, AMOUNT), "ord-first")
    read_before = await v.curve(SOL, USDC)
    await v.submit(first)
    await v.confirm(first.signature, signed=first.signed)
    assert len(v.in_flight) == 0
    late = read_before.quote(AMOUNT)
    fresh = (await v.curve(SOL, USDC)).quote(AMOUNT)
    assert late.amount_out == fresh.amount_out and late.ahead_amount_in == AMOUNT
    second = await build(v, late, "ord-second")
    await v.submit(second)
    got = await v.confirm(second.signature, signed=second.signed)
    assert got.amount_out == late.amount_out


@VENUES
async def test_of_orders_that_read_the_pool_together_each_prices_behind_those_chosen_first(
    index: int,
) -> None:
    v = venue(index)
    first_read, second_read = await v.curve(SOL, USDC), await v.curve(SOL, USDC)
    first = first_read.quote(AMOUNT)
    v.expect(first, "ord-first")  # the engine chose it: not yet built
    second = second_read.quote(AMOUNT)  # read before that choice, quoted after it
    assert second.amount_out < first.amount_out and second.ahead_amount_in == AMOUNT
    assert second.price < first.price  # the mid price the first leaves: its own impact
    built_first = await build(v, first, "ord-first")
    built_second = await build(v, second, "ord-second")
    for tx in (built_first, built_second):
        await v.submit(tx)
    await v.confirm(built_first.signature, signed=built_first.signed)
    got = await v.confirm(built_second.signature, signed=built_second.signed)
    assert got.amount_out == second.amount_out
    v.expect(first, "ord-stops")
    v.release("ord-stops")
    assert len(v.in_flight) == 0


@VENUES
async def test_amount_out_is_the_quotes_output_as_read_and_behind_swaps_in_flight(
    index: int,
) -> None:
    v = venue(index)
    amounts = [D(a) for a in ("0.001", "0.5", "10", "123.456789", AMOUNT)]
    await build(v, await v.quote(SOL, USDC, AMOUNT), "ord-first")
    as_read, behind = await v.read_curve(SOL, USDC), await v.curve(SOL, USDC)
    for curve in (as_read, behind):
        assert [curve.amount_out(a) for a in amounts] == [
            curve.quote(a).amount_out for a in amounts
        ]
        for dust in (D("1e-10"), D("1e-9")):  # below one unit in, or buys nothing
            with pytest.raises(NoRouteError) as quoted:
                curve.quote(dust)
            with pytest.raises(NoRouteError) as out_only:
                curve.amount_out(dust)
            assert str(out_only.value) == str(quoted.value)
    assert behind.amount_out(AMOUNT) < as_read.amount_out(AMOUNT)


async def test_a_swap_that_finds_the_pool_drained_by_those_ahead_is_retried_not_rejected() -> None:
    """Quoted as read, sent behind a swap that empties the DLMM pair's bins on its side: the
    program runs out of liquidity (and, past its bitmap, needs an account no swap passes:
    BitmapExtensionAccountIsNotProvided). The market moved under it, as with slippage: a
    transient error, and a fresh quote then finds the pool cannot take it."""
    v = venue(1)  # meteora
    drain = await build(v, await v.quote(SOL, USDC, D("9000")), "ord-drain")
    late = await build(v, (await v.read_curve(SOL, USDC)).quote(D("2000")), "ord-late")
    for tx in (drain, late):
        await v.submit(tx)
    await v.confirm(drain.signature, signed=drain.signed)
    with pytest.raises(SlippageExceededError, match="ran out of liquidity") as raised:
        await v.confirm(late.signature, signed=late.signed)
    assert isinstance(raised.value, TransientExecutionError)
    with pytest.raises(NoRouteError, match="cannot absorb 2000"):
        await v.quote(SOL, USDC, D("2000"))
    stale = (await v.read_curve(SOL, USDC)).quote(D("1"))  # a small swap still fits
    drained = dataclasses.replace(stale, amount_in=D("2000"))  # as a stale read quoted it
    with pytest.raises(SlippageExceededError, match="ran out of liquidity"):
        await build(v, drained, "ord-after")  # refused at the simulation: nothing sent


@VENUES
async def test_a_swap_of_another_process_counts_through_the_board(index: int) -> None:
    """Two worker processes on one chain: each prices the pool behind the other's swaps in
    flight as their shared board shows them, and lands at its quote behind them."""
    wallet, shared = Keypair(), dict[int, dict[str, Decimal]]()
    local = local_chain(wallet)
    one = chain_venues(local, wallet, board=LocalInFlightBoard(shared))[index]
    two = chain_venues(local, wallet, board=LocalInFlightBoard(shared))[index]
    first = await build(one, await one.quote(SOL, USDC, AMOUNT), "ord-in-one")
    behind = await two.quote(SOL, USDC, AMOUNT)
    assert behind.ahead_amount_in == AMOUNT  # the other process's swap, not its own
    assert len(two.in_flight) == 0
    second = await build(two, behind, "ord-in-two")
    for v, tx in ((one, first), (two, second)):
        await v.submit(tx)
    await one.confirm(first.signature, signed=first.signed)
    assert (await two.confirm(second.signature, signed=second.signed)).amount_out == (
        behind.amount_out
    )
    assert (await two.quote(SOL, USDC, AMOUNT)).ahead_amount_in == 0  # the first ended
