"""What an order is worth in US dollars (for the per-account order size limit), without a
round trip per order.

A token's USD price is the highest mid price (before fee and price impact) any venue's pool
quotes for it against USDC, directly or through SOL when no pool trades it with USDC; an
order's value is its `amountIn` times its tokenIn's price (so the value does not fall as an
order grows past a pool's depth). USDC and USDT are worth 1. Prices are remembered per
token and read again from the pools (one fetch of every path's pools at once, as a quote
does) at most every `fresh_s` (5 s), by the first submit that needs a newer one (others
for the same token wait for that one read); a price that cannot be read again is used for
`keep_s` (60 s) more. A token with no price (no pool reaches USDC, the chain did not answer)
has no value: its orders are not checked against the size limit, and a warning says so
(once per token per `fresh_s`). All arithmetic in `Decimal`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from order_engine.domain.errors import EngineError
from order_engine.engine.paths import Paths, Router
from order_engine.venues.base import PriceCurve

log = logging.getLogger(__name__)
STABLECOINS = frozenset({"USDC", "USDT"})
QUOTE_SYMBOL = "USDC"
FRESH_S = 5.0
KEEP_S = 60.0
# a pool's mid price is the same whatever the amount quoted: try amounts until one quotes
# (one whole token may be more than a thin pool holds, or less than one unit of USDC)
PROBES = tuple(Decimal(a) for a in ("1", "0.001", "1000", "0.000001", "1000000"))


@dataclass(frozen=True, slots=True)
class _Price:
    value: Decimal | None
    tried_at: float  # monotonic seconds of the last read
    read_at: float  # ... of the read that gave `value`


def mid_price(paths: Paths) -> Decimal | None:
    """tokenOut per tokenIn at the pools' mid price: the highest direct one, else the
    highest product of two hops' (None: no pool quotes)."""
    if paths.direct is not None:
        direct = _best_mid(paths.direct.curves)
        if direct is not None:
            return direct
    through = []
    for hop in paths.hops:
        first, second = _best_mid(hop.first.curves), _best_mid(hop.second.curves)
        if first is not None and second is not None:
            through.append(first * second)
    return max(through, default=None)


def _best_mid(curves: Sequence[PriceCurve]) -> Decimal | None:
    mids = [m for m in map(_mid, curves) if m is not None]
    return max(mids, default=None)


def _mid(curve: PriceCurve) -> Decimal | None:
    for amount in PROBES:
        try:
            price = curve.quote(amount).price
        except EngineError:
            continue
        if price > 0:
            return price
    return None


class UsdPrices:
    def __init__(
        self,
        router: Router,
        *,
        fresh_s: float = FRESH_S,
        keep_s: float = KEEP_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._router, self._tokens = router, router.tokens
        self._fresh_s, self._keep_s, self._monotonic = fresh_s, keep_s, monotonic
        self._prices: dict[str, _Price] = {}
        self._reads: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def value(self, symbol: str, amount: Decimal) -> Decimal | None:
        """`amount` of `symbol` in USD, or None when its price is unknown."""
        price = await self.price(symbol)
        return None if price is None else amount * price

    async def price(self, symbol: str) -> Decimal | None:
        """One whole `symbol` in USD, or None when it is unknown."""
        if symbol in STABLECOINS:
            return Decimal(1)
        if self._stale(self._prices.get(symbol)):
            lock = self._reads.get(symbol)
            if lock is None:
                lock = self._reads[symbol] = asyncio.Lock()
            async with lock:  # one read per token at a time; the others use its answer
                if self._stale(self._prices.get(symbol)):
                    await self._read(symbol)
        known = self._prices[symbol]
        usable = self._monotonic() - known.read_at < self._keep_s
        return known.value if usable else None

    def _stale(self, known: _Price | None) -> bool:
        return known is None or self._monotonic() - known.tried_at >= self._fresh_s

    async def _read(self, symbol: str) -> None:
        now = self._monotonic()
        price, why = None, "no pool quotes it against USDC"
        token, usdc = self._tokens.get(symbol), self._tokens.get(QUOTE_SYMBOL)
        if token is not None and usdc is not None:
            try:
                price = mid_price(await self._router.paths(token, usdc))
            except EngineError as exc:
                why = f"{exc.code}: {exc.message}"
        old = self._prices.get(symbol)
        if price is not None:
            self._prices[symbol] = _Price(price, now, now)
            return
        kept = _Price(None, now, -math.inf) if old is None else _Price(old.value, now, old.read_at)
        self._prices[symbol] = kept
        if kept.value is not None and now - kept.read_at < self._keep_s:
            age = now - kept.read_at
            log.warning("USD price of %s not read (%s): the last one (%.0f s old) is used",
                        symbol, why, age)  # fmt: skip
        else:
            log.warning("no USD price for %s (%s): its orders are not checked against the "
                        "accounts' largest order size", symbol, why)  # fmt: skip
