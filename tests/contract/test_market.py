"""The background market on the local chain: real swaps by the genesis authority move
prices; the arbitrageur pulls one-sided flow back to the reference; the venues disagree
by about their fees; a seed gives the same trades; the loop starts and stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import statistics
from decimal import Decimal

import pytest
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction

from order_engine.chain import dlmm, listing, raydium
from order_engine.chain.local import LocalChain
from order_engine.chain.market import BackgroundMarket, MarketSettings, StepReport
from order_engine.chain.memo import MARKET_MEMO
from order_engine.domain.tokens import TOKENS
from tests.chain_helpers import local_chain

D = Decimal
WSOL, USDC = TOKENS["WSOL"], TOKENS["USDC"]
SOL_POOLS = ("raydium:WSOL/USDC", "meteora:WSOL/USDC")
TEN_SOL = 10 * 10**9


class FixedTime:
    """A wall clock that does not move (the DLMM fee depends on seconds since a swap)."""

    def __call__(self) -> float:
        return 1_800_000_000.0


def market_on(local: LocalChain, settings: MarketSettings) -> BackgroundMarket:
    return BackgroundMarket(local.chain, local.launches._builder.authority, settings)


async def sell_sol(local: LocalChain, venue: str, sells: int) -> int:
    """`sells` swaps of 10 wSOL for USDC into `venue`'s pool, by the genesis authority,
    straight from instructions; how many landed."""
    b, chain = local.launches._builder, local.chain
    sol, usdc = listing.mint_of(WSOL), listing.mint_of(USDC)
    if venue == "raydium":
        keys = listing.raydium_keys(WSOL, USDC)
        ix = raydium.swap_base_input_ix(
            keys, b.authority_key, b.ata(sol), b.ata(usdc), sol, TEN_SOL, 0
        )
    else:
        pair = listing.dlmm_keys(WSOL, USDC)
        (found,) = await chain.accounts([pair.lb_pair])
        assert found is not None
        centre = dlmm.bin_array_index(dlmm.decode_lb_pair(found.data).active_id)
        arrays = [i for i in (centre - 1, centre, centre + 1)
                  if chain.account(dlmm.bin_array_address(pair.lb_pair, i))]  # fmt: skip
        ix = dlmm.swap_ix(pair, b.authority_key, b.ata(sol), b.ata(usdc), True, TEN_SOL, 0, arrays)
    landed = 0
    for i in range(sells):  # each its own transaction (identical bytes would execute once)
        landed += await send(local, [set_compute_unit_limit(1_400_000 - i), ix])
    return landed


# Slots of 20 ms: a blockhash lives 3 s, so a test process held off the CPU for a moment
# (a loaded machine, the suite's parallel workers) does not see it expire between asking for
# it and sending (with the helpers' default 2 ms slots it lives 0.3 s).
SLOT_S = 0.02


async def send(local: LocalChain, ixs: list[Instruction]) -> bool:
    b, chain = local.launches._builder, local.chain
    blockhash = (await chain.latest_blockhash()).blockhash  # a slot each: no equal bytes
    message = Message.new_with_blockhash(ixs, b.authority_key, blockhash)
    signature = await chain.send(bytes(Transaction([b.authority], message, blockhash)))
    (status,) = await chain.signature_statuses([signature])
    return status is not None and status.succeeded


def within(report: StepReport, pools: tuple[str, ...], share: Decimal) -> bool:
    return all(abs(report.deviation_of(p).after) < share for p in pools)


async def test_one_sided_sells_are_pulled_back_to_the_reference() -> None:
    local = local_chain(Keypair(), slot_s=SLOT_S)
    market = market_on(local, MarketSettings(seed=1))
    assert await sell_sol(local, "raydium", 1_000) == 1_000  # 10,000 SOL each
    assert await sell_sol(local, "meteora", 1_000) == 1_000
    first = await market.step()
    raydium_off, meteora_off = (first.deviation_of(p).before for p in SOL_POOLS)
    assert raydium_off < D("-0.6")  # 2M USD a side: SOL at a third of its price
    assert meteora_off < D("-0.03")  # 34 bins of 10 bps down: the pair's USDC nearly gone
    assert within(first, SOL_POOLS, D("0.01"))  # one step brings both back
    for _ in range(3):
        assert within(await market.step(), SOL_POOLS, D("0.01"))


async def test_one_sided_flow_between_steps_drains_no_pool() -> None:
    local = local_chain(Keypair(), slot_s=SLOT_S)
    market = market_on(local, MarketSettings(seed=2))
    worst = D(0)
    for _ in range(20):  # 2,000 sells of 10 SOL into each pool, 100 between steps
        assert await sell_sol(local, "raydium", 100) == 100
        assert await sell_sol(local, "meteora", 100) == 100
        report = await market.step()
        worst = min(worst, *(report.deviation_of(p).before for p in SOL_POOLS))
        assert within(report, SOL_POOLS, D("0.01"))
    assert worst < D("-0.1")


async def test_noise_moves_prices_and_the_venues_disagree_by_realistic_amounts() -> None:
    local = local_chain(Keypair(), slot_s=SLOT_S)
    settings = MarketSettings(seed=3, volatility_bps=D(0), noise_trades=10)  # fixed reference
    market = market_on(local, settings)
    reports = [await market.step() for _ in range(60)]
    assert market.reference_usd["WSOL"] == D(150)
    assert sum(r.noise for r in reports) > 500 and sum(r.failed for r in reports) == 0
    disagreements: list[Decimal] = []
    for report in reports:
        after = {d.pool: d.after for d in report.deviations}
        for pool, off in after.items():
            if pool.startswith("raydium:"):
                other = after[pool.replace("raydium:", "meteora:")]
                disagreements.append(abs((1 + off) / (1 + other) - 1))
    assert max(disagreements) < D("0.01")  # never more than about both fees
    assert D("0.0003") < statistics.median(disagreements) < D("0.003")  # a few bps
    prices = {
        d.pool: {r.deviation_of(d.pool).after for r in reports} for d in reports[0].deviations
    }
    # Every Raydium price moves with each trade; a DLMM price moves when a bin is crossed
    # (a major pair's bin holds ~44k USD a side: noise alone seldom crosses one).
    assert all(len(seen) > 1 for pool, seen in prices.items() if pool.startswith("raydium:"))


async def test_the_same_seed_makes_the_same_trades() -> None:
    async def run(seed: int) -> list[StepReport]:
        local = local_chain(Keypair.from_seed(bytes(32)), now=FixedTime())
        market = market_on(local, MarketSettings(seed=seed, volatility_bps=D(20)))
        reports = [await market.step() for _ in range(15)]
        sent = [t.signature for r in reports for t in r.trades]
        memos = [local.chain.signatures_with_memo(f"{MARKET_MEMO}:{n}") for n in range(1, 1000)]
        assert [m[0] for m in memos if m] == sent  # every one, in order, each its own
        return reports

    first, again, other = await run(5), await run(5), await run(6)
    assert sum(r.arbitrage for r in first) > 0 and sum(r.noise for r in first) == 30
    assert first == again
    assert [r.trades for r in first] != [r.trades for r in other]


async def test_the_loop_steps_until_stopped_and_survives_a_failed_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    local = local_chain(Keypair(), slot_s=SLOT_S)
    off = market_on(local, MarketSettings())
    off.start()
    assert not off.running  # interval 0: the market is off
    market = market_on(local, MarketSettings(interval_s=0.01, seed=4))
    real_step, calls, three = market.step, [0], asyncio.Event()

    async def flaky() -> StepReport:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("injected")
        report = await real_step()
        if calls[0] == 3:
            three.set()
        return report

    monkeypatch.setattr(market, "step", flaky)
    assert not market.running  # until started
    market.start()
    with caplog.at_level(logging.ERROR, logger="order_engine.chain.market"):
        async with asyncio.timeout(10):
            await three.wait()  # a failed step, then two good ones
    assert market.running and "step failed" in caplog.text
    await market.stop()
    assert not market.running
    stopped_at = market.steps
    await asyncio.sleep(0.05)
    assert market.steps == stopped_at
    await market.stop()  # twice is harmless
