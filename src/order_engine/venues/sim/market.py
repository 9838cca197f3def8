"""Reference USD prices of the simulated market, and the pair price derived from them.

A `ReferencePrices` belongs to one set of simulated venues (one engine): the built-in
prices, then a price per launched token, given when the engine applies the launch
(`register_launch`): the opening price in its quote token times that token's USD price.
It registers the launched token in the engine's `TokenRegistry` too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType

from order_engine.domain.errors import NoRouteError
from order_engine.domain.launches import Launch
from order_engine.domain.tokens import Token, TokenRegistry

BUILT_IN_USD_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {
        "SOL": Decimal("150"),
        "WSOL": Decimal("150"),
        "USDC": Decimal("1"),
        "USDT": Decimal("1"),
        "BONK": Decimal("0.00002"),
        "JUP": Decimal("0.9"),
        "RAY": Decimal("2.1"),
        "WIF": Decimal("1.8"),
    }
)
MIN_LAUNCH_UNITS = 1_000  # base units on each side of a launched pool: at least this many
MAX_LAUNCH_UNITS = 2**64 - 1  # and at most what an SPL token account holds


class ReferencePrices:
    """One simulated market's reference USD prices, over the engine's token registry."""

    def __init__(self, tokens: TokenRegistry | None = None) -> None:
        self._tokens = TokenRegistry() if tokens is None else tokens
        self._usd: dict[str, Decimal] = dict(BUILT_IN_USD_PRICES)

    @property
    def tokens(self) -> TokenRegistry:
        return self._tokens

    def usd_price(self, token: Token | str) -> Decimal:
        """The reference USD price of one whole `token`; `NoRouteError` if it has none."""
        symbol = (token.symbol if isinstance(token, Token) else token).upper()
        try:
            return self._usd[symbol]
        except KeyError:
            raise NoRouteError(f"no market price for {symbol}") from None

    def base_price(self, token_in: Token | str, token_out: Token | str) -> Decimal:
        """How many tokenOut one tokenIn is worth at reference prices (before venue noise)."""
        return self.usd_price(token_in) / self.usd_price(token_out)

    def register(self, symbol: str, usd: Decimal) -> Decimal:
        """Give `symbol` a reference price; the same price again changes nothing.
        `ValueError` if it is not finite and positive, or `symbol` has another one."""
        upper = symbol.upper()
        self._check_new_price(upper, usd)
        return self._usd.setdefault(upper, usd)

    def register_launch(self, launch: Launch) -> Token:
        """Make `launch`'s token known to this market: the token registry and its USD price
        (the opening price × the quote token's). Idempotent; whether or not a venue here
        opens the pool. `NoRouteError` if the quote token has no price, `ValueError` on a
        conflict (and then nothing changes)."""
        symbol = launch.symbol.upper()
        if symbol == launch.quote.upper():
            raise ValueError(f"{symbol} cannot be paired with itself")
        usd = launch.price * self.usd_price(launch.quote)
        self._check_new_price(symbol, usd)
        self._check_pool_sides(launch)
        token = self._tokens.register(Token(launch.symbol, launch.mint, launch.decimals))
        self.register(token.symbol, usd)
        return token

    def _check_pool_sides(self, launch: Launch) -> None:
        """`ValueError` unless both sides of the launch's pool hold a sane number of base
        units (less than a thousand units, or more than a token account holds, is no pool)."""
        quote = self._tokens.find(launch.quote, field="quote")
        quote_side = launch.depth_usd / self.usd_price(launch.quote)
        sides = (
            (quote.symbol, quote_side * 10**quote.decimals),
            (launch.symbol, quote_side / launch.price * 10**launch.decimals),
        )
        for symbol, units in sides:
            if not MIN_LAUNCH_UNITS <= units <= MAX_LAUNCH_UNITS:
                raise ValueError(
                    f"the pool would hold {units:.3g} base units of {symbol}, not from "
                    f"{MIN_LAUNCH_UNITS} to {MAX_LAUNCH_UNITS:.3g}"
                )

    def _check_new_price(self, symbol: str, usd: Decimal) -> None:
        if not usd.is_finite() or usd <= 0:
            raise ValueError(f"the USD price of {symbol} must be finite and positive, not {usd}")
        known = self._usd.get(symbol)
        if known is not None and known != usd:
            raise ValueError(f"{symbol} is priced at {known} USD, not {usd}")

    def as_dict(self) -> dict[str, Decimal]:
        """Every price by symbol (a copy)."""
        return dict(self._usd)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._usd))

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and symbol.upper() in self._usd
