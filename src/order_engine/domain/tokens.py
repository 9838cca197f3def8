"""Token registry: symbols, mint addresses and decimals; native SOL wraps to wSOL.

The registry is per process. It starts with the built-in tokens; a launched token joins it
when the process applies the launch (`register_token`), and stays for the process's life.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from order_engine.domain.errors import RequestError, SameTokenError, UnknownTokenError

WSOL_MINT = "So11111111111111111111111111111111111111112"


@dataclass(frozen=True, slots=True)
class Token:
    symbol: str
    mint: str
    decimals: int
    native: bool = False

    @property
    def quantum(self) -> Decimal:
        """The smallest representable amount (one base unit)."""
        return Decimal(1).scaleb(-self.decimals)

    @property
    def swap_mint(self) -> str:
        """The mint the pools trade: native SOL trades as wSOL."""
        return WSOL_MINT if self.native else self.mint


TOKENS: dict[str, Token] = {
    t.symbol: t
    for t in (
        Token("SOL", "11111111111111111111111111111111", 9, native=True),
        Token("WSOL", WSOL_MINT, 9),
        Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
        Token("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6),
        Token("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5),
        Token("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6),
        Token("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6),
        Token("WIF", "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm", 6),
    )
}
BUILT_IN = frozenset(TOKENS)  # the tokens every process knows from the start
MAX_AMOUNT = Decimal("1000000000000")  # 1e12 whole tokens: anything above is a typo


def register_token(token: Token) -> Token:
    """Add a launched token to this process's registry and return the registered one.

    Registering the same token again changes nothing; `ValueError` if it is native, if its
    symbol is built in or registered with another mint or decimals, or if another token
    holds its mint.
    """
    if token.native or token.symbol != token.symbol.upper() or token.decimals < 0:
        raise ValueError(f"not a launched token (upper-case, not native, decimals >= 0): {token}")
    if token.symbol in BUILT_IN:
        raise ValueError(f"{token.symbol} is a built-in token, not a launched one")
    known = TOKENS.get(token.symbol)
    if known is not None:
        if known != token:
            raise ValueError(
                f"{token.symbol} is registered with mint {known.mint} and {known.decimals} "
                f"decimals, not {token.mint} and {token.decimals}"
            )
        return known
    holder = next((t.symbol for t in TOKENS.values() if t.mint == token.mint), None)
    if holder is not None:
        raise ValueError(f"mint {token.mint} belongs to {holder}, not {token.symbol}")
    TOKENS[token.symbol] = token
    return token


def is_launched(symbol: str) -> bool:
    """Whether `symbol` is a token this process registered from a launch (not a built-in)."""
    upper = symbol.upper()
    return upper in TOKENS and upper not in BUILT_IN


def find_token(symbol: str, *, field: str) -> Token:
    token = TOKENS.get(symbol.upper()) if isinstance(symbol, str) else None
    if token is None:
        known = ", ".join(sorted(TOKENS))
        raise UnknownTokenError(f"unknown token {symbol!r}; known tokens: {known}", field=field)
    return token


def check_pair(token_in: Token, token_out: Token) -> None:
    """Reject a swap of a token into itself (SOL and wSOL count as the same asset)."""
    if token_in.swap_mint == token_out.swap_mint:
        raise SameTokenError(
            f"tokenIn and tokenOut are the same asset ({token_in.symbol} -> {token_out.symbol})",
            field="tokenOut",
        )


def check_amount(amount: Decimal, token: Token, *, field: str) -> Decimal:
    """Validate a human amount of `token`: finite, positive, bounded, within its decimals."""
    if not amount.is_finite():
        raise RequestError(f"{field} must be a finite number", field=field)
    if amount <= 0:
        raise RequestError(f"{field} must be greater than 0", field=field)
    if amount > MAX_AMOUNT:
        raise RequestError(f"{field} must be at most {MAX_AMOUNT}", field=field)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > token.decimals:
        raise RequestError(
            f"{field} has more than {token.decimals} decimal places, the precision of "
            f"{token.symbol}",
            field=field,
        )
    return amount
