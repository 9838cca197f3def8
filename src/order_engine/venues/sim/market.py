"""Reference USD prices of the simulated market, and the pair price derived from them.

A launched token gets its price when the process applies the launch (`register_launch`):
the opening price in its quote token times that token's USD price.
"""

from __future__ import annotations

from decimal import Decimal

from order_engine.domain.errors import NoRouteError
from order_engine.domain.launches import Launch
from order_engine.domain.tokens import Token, register_token

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


def register_usd_price(symbol: str, usd: Decimal) -> Decimal:
    """Give `symbol` a reference price in this process; the same price again changes
    nothing. `ValueError` if it is not finite and positive, or `symbol` has another one."""
    upper = symbol.upper()
    _check_new_price(upper, usd)
    return USD_PRICES.setdefault(upper, usd)


def register_launch(launch: Launch) -> Token:
    """Make `launch`'s token known to this process: the registry and its USD price (the
    opening price × the quote token's). Idempotent; whether or not a venue here opens the
    pool. `NoRouteError` if the quote token has no price, `ValueError` on a conflict (and
    then nothing changes)."""
    symbol = launch.symbol.upper()
    if symbol == launch.quote.upper():
        raise ValueError(f"{symbol} cannot be paired with itself")
    usd = launch.price * usd_price(launch.quote)
    _check_new_price(symbol, usd)
    token = register_token(Token(launch.symbol, launch.mint, launch.decimals))
    register_usd_price(token.symbol, usd)
    return token


def _check_new_price(symbol: str, usd: Decimal) -> None:
    if not usd.is_finite() or usd <= 0:
        raise ValueError(f"the USD price of {symbol} must be finite and positive, not {usd}")
    known = USD_PRICES.get(symbol)
    if known is not None and known != usd:
        raise ValueError(f"{symbol} is priced at {known} USD, not {usd}")
