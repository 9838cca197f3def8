"""The background market: prices move because trades happen.

A seeded market trades real swaps on the local chain's pools, signed by the genesis
authority (which holds every token, wSOL included) and sent through the `Chain` port like
any other transaction, so they are journaled and durable. Each carries the memo `market`,
which no order's memo is. Every step:

1. **The reference moves.** Each token's USD reference price (from the opening prices;
   USDC and USDT stay at 1) is multiplied by exp(σ·N(0,1) − κ·ln(ref/opening)),
   σ = `volatility_bps` / 10⁴, κ = `reversion`: a random walk pulled gently back.
2. **Noise flow.** `noise_trades` swaps on random pools (a random venue, a random pair of
   built-in tokens, a random direction) of about `flow_usd` × a log-normal factor, priced
   at the reference.
3. **The arbitrageur.** Each pool whose mid price is further from the reference than its
   fee plus 2 bps is traded back to the reference (`arbitrage`): the venues then disagree by
   about their fees, and one-sided flow is pulled back instead of draining a pool.

Every swap's minimum out is its exact quote less 1%. A swap the chain refuses, or that
fails on chain, is logged and counted; the loop (`start`/`stop`) logs a failed step and goes
on. Unless the chain is instant, a transaction lands at the next slot: a step waits for its
trades before it reads the pools again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from solders.compute_budget import set_compute_unit_limit
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction

from order_engine.chain import raydium
from order_engine.chain.arbitrage import (
    VENUES,
    LivePool,
    PoolRef,
    built_in_pools,
    deviation,
    read_amm_config,
    read_pool,
)
from order_engine.chain.genesis import OPENING_PRICES_USD
from order_engine.chain.listing import STABLECOINS, pool_symbol
from order_engine.chain.memo import market_memo
from order_engine.chain.port import Chain
from order_engine.domain.errors import ChainUnavailableError, TransactionRejectedError
from order_engine.domain.pools.base import InsufficientLiquidityError

log = logging.getLogger(__name__)
EDGE = Fraction(2, 10_000)  # the arbitrageur trades past fee + 2 bps
NOISE_SIGMA = 0.75  # log-normal spread of a noise trade's size around `flow_usd`
MIN_OUT = Fraction(99, 100)  # minimum out: the exact quote less 1%
CU_LIMIT = 1_400_000  # a DLMM swap across many bins needs more than the default 200k
SETTLE_POLL_S = 0.05
SETTLE_TIMEOUT_S = 10.0
DEVIATION_PLACES = Decimal("1e-6")


@dataclass(frozen=True, slots=True)
class MarketSettings:
    interval_s: float = 0.0  # seconds between steps; 0: the market is off
    volatility_bps: Decimal = Decimal(5)  # σ of the reference's log return per step
    flow_usd: Decimal = Decimal(2_000)  # a noise trade's typical (median) size
    noise_trades: int = 2  # per step
    seed: int = 0
    arbitrage: bool = True
    # pull of the reference back toward its opening price per step (a share of the log
    # distance): keeps prices within the pools' liquidity (σ/√(2κ) ≈ 0.8% by default)
    reversion: Decimal = Decimal("0.002")


@dataclass(frozen=True, slots=True)
class Trade:
    pool: str  # `PoolRef.name`, e.g. "raydium:WSOL/USDC"
    kind: Literal["noise", "arbitrage"]
    sell_base: bool
    amount_in: int  # base units of the input token
    min_out: int
    signature: str | None  # None: the chain refused it (nothing was sent)


@dataclass(frozen=True, slots=True)
class PoolDeviation:
    pool: str
    before: Decimal  # mid / reference − 1 before the arbitrageur, after the noise
    after: Decimal  # and after the arbitrageur


@dataclass(frozen=True, slots=True)
class StepReport:
    step: int
    trades: tuple[Trade, ...]
    failed: int  # trades refused, failed on chain or not seen landing
    deviations: tuple[PoolDeviation, ...]
    reference_usd: Mapping[str, Decimal]

    @property
    def noise(self) -> int:
        return sum(t.kind == "noise" for t in self.trades)

    @property
    def arbitrage(self) -> int:
        return sum(t.kind == "arbitrage" for t in self.trades)

    def deviation_of(self, pool: str) -> PoolDeviation:
        return next(d for d in self.deviations if d.pool == pool)


def as_decimal(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(DEVIATION_PLACES)


class BackgroundMarket:
    """Steps the market on `chain` as `trader` (the genesis authority)."""

    def __init__(
        self,
        chain: Chain,
        trader: Keypair,
        settings: MarketSettings,
        *,
        prices_usd: Mapping[str, Decimal] = OPENING_PRICES_USD,
        pools: Sequence[PoolRef] | None = None,
    ) -> None:
        self.chain, self.settings = chain, settings
        self._trader, self._me = trader, trader.pubkey()
        self._rng = random.Random(f"{settings.seed}:market")
        self._reference = {s: Decimal(p) for s, p in prices_usd.items()}
        self._opening = dict(self._reference)
        self._pools = tuple(built_in_pools() if pools is None else pools)
        self._config: raydium.AmmConfig | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._steps = 0
        self._sent = 0  # trades sent so far (numbers their memos)

    @property
    def reference_usd(self) -> dict[str, Decimal]:
        return dict(self._reference)

    @property
    def steps(self) -> int:
        """How many steps have begun."""
        return self._steps

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # ---- one step --------------------------------------------------------------------
    async def step(self) -> StepReport:
        async with self._lock:
            self._steps += 1
            self._walk()
            noise = [await self._noise_trade() for _ in range(self.settings.noise_trades)]
            trades = [t for t in noise if t is not None]
            failed = await self._settle(trades)
            arbitrage, before = await self._arbitrage()
            failed += await self._settle(arbitrage)
            deviations = await self._after(before, arbitrage)
            return StepReport(
                self._steps, (*trades, *arbitrage), failed, deviations, self.reference_usd
            )

    def _walk(self) -> None:
        """A mean-reverting random walk of the log reference price (Ornstein–Uhlenbeck)."""
        sigma = float(self.settings.volatility_bps) / 10_000
        kappa = float(self.settings.reversion)
        for symbol in sorted(self._reference):
            draw = self._rng.gauss(0.0, 1.0)
            if symbol not in STABLECOINS:
                distance = math.log(self._reference[symbol] / self._opening[symbol])
                factor = Decimal(repr(math.exp(sigma * draw - kappa * distance)))
                self._reference[symbol] = self._reference[symbol] * factor

    async def _noise_trade(self) -> Trade | None:
        rng, s = self._rng, self.settings
        venue = rng.choice(VENUES)
        ref = rng.choice([p for p in self._pools if p.venue == venue] or self._pools)
        sell_base = rng.random() < 0.5
        usd = s.flow_usd * Decimal(repr(math.exp(NOISE_SIGMA * rng.gauss(0.0, 1.0))))
        token_in = ref.tokens(sell_base)[0]
        units = int(usd / self._reference[pool_symbol(token_in)] * 10**token_in.decimals)
        pool = await self._read(ref)
        if pool is None or units <= 0:
            return None
        return await self._trade(pool, "noise", sell_base, units)

    async def _arbitrage(self) -> tuple[list[Trade], list[tuple[PoolRef, Fraction]]]:
        """The arbitrageur's trades, and each pool's deviation before them."""
        trades: list[Trade] = []
        before: list[tuple[PoolRef, Fraction]] = []
        for ref in self._pools:
            pool = await self._read(ref)
            if pool is None:
                continue
            target = ref.target(self._reference)
            off = deviation(pool, target)
            before.append((ref, off))
            if not self.settings.arbitrage or abs(off) <= pool.fee() + EDGE:
                continue
            move = pool.to_price(target)
            if move is not None:
                trade = await self._trade(pool, "arbitrage", *move)
                trades += [trade] if trade is not None else []
        return trades, before

    async def _after(
        self, before: list[tuple[PoolRef, Fraction]], trades: list[Trade]
    ) -> tuple[PoolDeviation, ...]:
        traded = {t.pool for t in trades}
        out: list[PoolDeviation] = []
        for ref, off in before:
            after = off
            if ref.name in traded and (pool := await self._read(ref)) is not None:
                after = deviation(pool, ref.target(self._reference))
            out.append(PoolDeviation(ref.name, as_decimal(off), as_decimal(after)))
        return tuple(out)

    # ---- the chain -------------------------------------------------------------------
    async def _read(self, ref: PoolRef) -> LivePool | None:
        if self._config is None:  # an admin-only account: read once
            self._config = await read_amm_config(self.chain)
        return await read_pool(self.chain, ref, self._config, await self.chain.unix_time())

    async def _trade(
        self, pool: LivePool, kind: Literal["noise", "arbitrage"], sell_base: bool, units: int
    ) -> Trade | None:
        """Swap `units` in at the exact quote less 1%; None if the pool cannot take it."""
        try:
            min_out = int(pool.amount_out(sell_base, units) * MIN_OUT)
        except InsufficientLiquidityError as exc:
            log.debug("market: no %s trade on %s: %s", kind, pool.ref.name, exc)
            return None
        ix = pool.instruction(self._me, sell_base, units, min_out)
        latest = await self.chain.latest_blockhash()
        self._sent += 1
        body = [set_compute_unit_limit(CU_LIMIT), ix, market_memo(self._sent)]
        message = Message.new_with_blockhash(body, self._me, latest.blockhash)
        tx = Transaction([self._trader], message, latest.blockhash)
        try:
            signature: str | None = await self.chain.send(bytes(tx))
        except (TransactionRejectedError, ChainUnavailableError) as exc:
            log.info("market: the chain refused a %s trade on %s: %s", kind, pool.ref.name, exc)
            signature = None
        return Trade(pool.ref.name, kind, sell_base, units, min_out, signature)

    async def _settle(self, trades: Sequence[Trade]) -> int:
        """Wait until the trades sent have executed; how many failed or never showed."""
        pending = [t.signature for t in trades if t.signature is not None]
        failed = len(trades) - len(pending)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while pending:
            statuses = await self.chain.signature_statuses(pending)
            for signature, status in zip(pending, statuses, strict=True):
                if status is not None and status.err is not None:
                    log.info("market: trade %s failed on chain: %s", signature, status.err)
            failed += sum(s is not None and s.err is not None for s in statuses)
            pending = [p for p, s in zip(pending, statuses, strict=True) if s is None]
            if pending and time.monotonic() > deadline:
                log.info("market: %d trades not seen landing", len(pending))
                return failed + len(pending)
            if pending:
                await asyncio.sleep(SETTLE_POLL_S)
        return failed

    # ---- the loop --------------------------------------------------------------------
    def start(self) -> None:
        """Step every `interval_s` in a task of the running loop (0: off)."""
        if self.settings.interval_s <= 0 or self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="market")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval_s)
            try:
                report = await self.step()
            except Exception:
                log.exception("market: step failed; the market goes on")
                continue
            log.debug(
                "market step %d: %d noise, %d arbitrage, %d failed",
                report.step, report.noise, report.arbitrage, report.failed,
            )  # fmt: skip
