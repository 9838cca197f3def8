"""Which pools the simulated venues hold and how deep they are.

Every pair of built-in tokens has one pool on each venue. Native SOL trades as wSOL, so SOL
and WSOL share a pool, and a pair is the same pool whichever way it is traded. A pool trades
its base token A against its quote token B (prices are B per A), starts at the reference
mid price of the venue's `ReferencePrices` and holds the configured depth, in USD, on each
side.

A launched token has one pool only, from the launch on: on the venue and against the token
the launch names, at the launch's price and depth (`PoolBook.open_launch`). Its first
`LAUNCH_VOLATILE_SWAPS` swaps execute with the wider `LAUNCH_DRIFT` (the volatile first
block); quoting a launched token anywhere else is `NoRouteError`.

`PoolBook` holds one venue's pools as they stand: created on first use (or opened by a
launch), re-priced by each quote, moved by each landed swap. Which tokens were launched and
what they are worth, it asks its `ReferencePrices` (and the token registry behind them).

Raydium pools are constant-product (x·y = k); Meteora pools are DLMM-style bins. Depths and
bin steps depend on the venue and on the pair's tier: two stablecoins (deep, narrow bins), a
pair with wSOL or a stablecoin (the default), or two other tokens (thin, wide bins).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum
from itertools import combinations

from order_engine.domain.errors import NoRouteError
from order_engine.domain.launches import Launch
from order_engine.domain.pools import ConstantProductPool, DlmmPool, Pool
from order_engine.domain.pools.base import CTX, ONE
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import BUILT_IN_TOKENS, Token
from order_engine.venues.sim.market import ReferencePrices

D = Decimal


class PoolKind(StrEnum):
    CONSTANT_PRODUCT = "constant_product"
    DLMM = "dlmm"


class PairTier(StrEnum):
    STABLE = "stable"  # two stablecoins
    MAJOR = "major"  # wSOL or a stablecoin on one side
    MINOR = "minor"  # two other tokens


QUOTE_ORDER = ("USDC", "USDT", "WSOL")  # the first one a pair holds is its quote token B
STABLECOINS = frozenset({"USDC", "USDT"})

VENUE_POOLS: dict[str, PoolKind] = {
    "raydium": PoolKind.CONSTANT_PRODUCT,
    "meteora": PoolKind.DLMM,
}
DEPTH_USD: dict[str, dict[PairTier, Decimal]] = {
    "raydium": {
        PairTier.STABLE: D(10_000_000),
        PairTier.MAJOR: D(2_000_000),
        PairTier.MINOR: D(400_000),
    },
    "meteora": {
        PairTier.STABLE: D(8_000_000),
        PairTier.MAJOR: D(1_500_000),
        PairTier.MINOR: D(300_000),
    },
}
# A DLMM bin is this many bps above the one below; liquidity spans this many bins each
# side of the active one (triangular shape): ±0.6% for stablecoins, ±6% for majors.
BIN_STEP_BPS: dict[PairTier, int] = {PairTier.STABLE: 1, PairTier.MAJOR: 10, PairTier.MINOR: 25}
BINS_EACH_SIDE = 60
LAUNCH_VOLATILE_SWAPS = 5  # swaps on a newly opened pool that execute in its first block
LAUNCH_DRIFT = D("0.03")  # their drift bound (a venue's usual bound is ±0.5%)


@dataclass(frozen=True, slots=True)
class PoolPair:
    """A pool's two tokens in canonical order (pool symbols: SOL appears as WSOL)."""

    base: str  # A
    quote: str  # B

    @classmethod
    def of(cls, x: Token | str, y: Token | str) -> PoolPair:
        """The pool that trades `x` against `y`, in either direction."""
        a, b = _pool_symbol(x), _pool_symbol(y)
        if a == b:
            raise ValueError(f"no pool trades {a} against itself")
        ranks = {s: i for i, s in enumerate(QUOTE_ORDER)}
        if ranks.get(a, len(QUOTE_ORDER)) < ranks.get(b, len(QUOTE_ORDER)):
            return cls(b, a)
        if a in ranks or b in ranks:
            return cls(a, b)
        return cls(*sorted((a, b)))

    def sells_base(self, token_in: Token | str) -> bool:
        """Whether selling `token_in` into this pool is the A → B direction."""
        return _pool_symbol(token_in) == self.base

    @property
    def tier(self) -> PairTier:
        symbols = {self.base, self.quote}
        if symbols <= STABLECOINS:
            return PairTier.STABLE
        if symbols & set(QUOTE_ORDER):
            return PairTier.MAJOR
        return PairTier.MINOR

    def __str__(self) -> str:
        return f"{self.base}/{self.quote}"


def pool_pairs() -> list[PoolPair]:
    """The pools every venue holds: one per pair of built-in tokens (not launched ones)."""
    symbols = sorted({_pool_symbol(t) for t in BUILT_IN_TOKENS})
    return sorted({PoolPair.of(x, y) for x, y in combinations(symbols, 2)}, key=str)


def check_venue(venue: str) -> None:
    """`ValueError` unless the pool book configures `venue`."""
    if venue not in VENUE_POOLS or venue not in DEPTH_USD:
        known = ", ".join(sorted(VENUE_POOLS))
        raise ValueError(f"no pools are configured for venue {venue!r}; known: {known}")


def pool_depth_usd(venue: str, pair: PoolPair) -> Decimal:
    """The USD value `venue`'s pool for `pair` holds on each side at its reference price."""
    check_venue(venue)
    return DEPTH_USD[venue][pair.tier]


def new_pool(venue: str, pair: PoolPair, *, fee: Decimal, prices: ReferencePrices) -> Pool:
    """`venue`'s pool for `pair` at the reference mid price and the configured depth.

    `fee` is the constant-product fee, or the DLMM base fee (the variable fee adds to it).
    """
    depth_b = pool_depth_usd(venue, pair) / prices.usd_price(pair.quote)
    mid = prices.base_price(pair.base, pair.quote)
    return _pool_at(venue, pair, mid, depth_b, fee=fee)


def _pool_at(venue: str, pair: PoolPair, mid: Decimal, depth_b: Decimal, *, fee: Decimal) -> Pool:
    """`venue`'s kind of pool for `pair` at `mid`, holding `depth_b` of B (and as much A)."""
    if VENUE_POOLS[venue] is PoolKind.CONSTANT_PRODUCT:
        return ConstantProductPool.from_depth(mid, depth_b, fee)
    return DlmmPool.from_depth(
        mid,
        depth_b,
        bin_step_bps=BIN_STEP_BPS[pair.tier],
        bins_each_side=BINS_EACH_SIDE,
        base_fee=fee,
    )


@dataclass(frozen=True, slots=True)
class _PoolState:
    pool: Pool
    pressure: Decimal = ONE  # how far landed swaps moved the mid since the last re-price


class PoolBook:
    """One venue's pools as they stand (in this process), each created on first use."""

    def __init__(self, venue: str, *, fee: Decimal, prices: ReferencePrices | None = None) -> None:
        check_venue(venue)
        self._venue = venue
        self._fee = fee
        self._prices = ReferencePrices() if prices is None else prices
        self._states: dict[PoolPair, _PoolState] = {}
        self._volatile_left: dict[PoolPair, int] = {}  # swaps left in a new pool's first block

    def pair(self, token_in: Token, token_out: Token) -> PoolPair:
        """The pool trading the pair; `NoRouteError` naming the venue if there is none."""
        try:
            pair = PoolPair.of(token_in, token_out)
            if self.launched(pair) and pair not in self._states:
                raise NoRouteError(f"no pool for {token_in.symbol}/{token_out.symbol} yet")
            self.reference_price(pair)  # raises for a token without a market price
        except ValueError as exc:
            raise NoRouteError(f"{self._venue}: {exc}") from None
        except NoRouteError as exc:
            raise NoRouteError(f"{self._venue}: {exc.message}") from None
        return pair

    def open_launch(self, launch: Launch, *, volatile_swaps: int = LAUNCH_VOLATILE_SWAPS) -> bool:
        """Open the pool of `launch` (whose token this process registered) at its opening
        price, `launch.depth_usd` on each side; False, and nothing changes, if it is open."""
        pair = PoolPair.of(launch.symbol, launch.quote)
        if not self._prices.tokens.is_launched(launch.symbol):
            raise ValueError(f"{launch.symbol} is not a registered launched token")
        if pair in self._states:
            return False
        with localcontext(CTX):
            mid = launch.price if pair.base == launch.symbol else ONE / launch.price
            depth_b = launch.depth_usd / self._prices.usd_price(pair.quote)
        pool = _pool_at(self._venue, pair, mid, depth_b, fee=self._fee)
        self._states[pair] = _PoolState(pool)
        self._volatile_left[pair] = volatile_swaps
        return True

    def launched(self, pair: PoolPair) -> bool:
        """Whether a launched token trades in `pair` (then only its venue holds it)."""
        tokens = self._prices.tokens
        return tokens.is_launched(pair.base) or tokens.is_launched(pair.quote)

    def reference_price(self, pair: PoolPair) -> Decimal:
        """B per A at the market's reference prices; `NoRouteError` if one has none."""
        return self._prices.base_price(pair.base, pair.quote)

    def drift_bound(self, pair: PoolPair, usual: Decimal) -> Decimal:
        """How far the next swap on `pair` may execute from its quoted mid: `usual`, or
        `LAUNCH_DRIFT` while the pool is in its volatile first block."""
        return max(usual, LAUNCH_DRIFT) if self._volatile_left.get(pair, 0) > 0 else usual

    def _state(self, pair: PoolPair) -> _PoolState:
        state = self._states.get(pair)
        if state is None:
            if self.launched(pair):
                raise NoRouteError(f"{self._venue}: no pool for {pair} yet")
            pool = new_pool(self._venue, pair, fee=self._fee, prices=self._prices)
            state = self._states[pair] = _PoolState(pool)
        return state

    def pool(self, pair: PoolPair) -> Pool:
        return self._state(pair).pool

    def reprice(self, pair: PoolPair, mid_price: Decimal) -> Pool:
        """Move the pool to `mid_price` (what a fresh quote sees) and keep it there."""
        pool = self._state(pair).pool.repriced(mid_price)
        self._states[pair] = _PoolState(pool)
        return pool

    def execution_pool(self, pair: PoolPair, quote: Quote, drift: Decimal) -> Pool:
        """The pool a swap of `quote` meets: the mid the quote saw moved by `drift` and by
        every swap that landed since the last re-price. The book keeps its state."""
        state = self._state(pair)
        with localcontext(CTX):
            quoted_mid = quote.price if pair.sells_base(quote.token_in) else ONE / quote.price
            return state.pool.repriced(quoted_mid * drift * state.pressure)

    def executed(self, pair: PoolPair, moved: tuple[Pool, Pool] | None) -> None:
        """A swap on `pair` reached the chain: it landed on `moved[0]` (from
        `execution_pool`) and left `moved[1]`, or (None) it reverted."""
        left = self._volatile_left.pop(pair, 0) - 1
        if left > 0:
            self._volatile_left[pair] = left
        if moved is not None:
            self.swapped(pair, *moved)

    def swapped(self, pair: PoolPair, before: Pool, after: Pool) -> None:
        """A swap landed on `before` (from `execution_pool`) and left `after`."""
        pressure = self._state(pair).pressure
        with localcontext(CTX):
            pressure *= after.mid_price / before.mid_price
        self._states[pair] = _PoolState(after, pressure)


def _pool_symbol(token: Token | str) -> str:
    if isinstance(token, Token):
        return "WSOL" if token.native else token.symbol
    symbol = token.upper()
    return "WSOL" if symbol == "SOL" else symbol
