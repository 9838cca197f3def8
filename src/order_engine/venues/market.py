"""Reference USD prices of the simulated market, and the pair price derived from them."""

from __future__ import annotations

from decimal import Decimal

from order_engine.domain.errors import NoRouteError
from order_engine.domain.tokens import Token

USD_PRICES: dict[str, Decimal] = {
    "SOL": Decimal("150"),
    "WSOL": Decimal("150"),
    "USDC": Decimal("1"),
    "USDT": Decimal("1"),
    "BONK": Decimal("0.00002"),
    "JUP": Decimal("0.9"),
    "RAY": Decimal("2.1"),
    "WIF": Decimal("1.8"),
}


def usd_price(token: Token | str) -> Decimal:
    """The reference USD price of one whole `token`; `NoRouteError` if it has none."""
    symbol = (token.symbol if isinstance(token, Token) else token).upper()
    try:
        return USD_PRICES[symbol]
    except KeyError:
        raise NoRouteError(f"no market price for {symbol}") from None


def base_price(token_in: Token | str, token_out: Token | str) -> Decimal:
    """How many tokenOut one tokenIn is worth at reference prices (before venue noise)."""
    return usd_price(token_in) / usd_price(token_out)
