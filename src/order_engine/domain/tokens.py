"""Tokens: symbols, mint addresses and decimals; native SOL wraps to wSOL.

A `TokenRegistry` belongs to one engine (the composition root makes it and hands it to
everything that looks tokens up). It starts with the built-in tokens; a launched token joins
it when the engine applies the launch (`register`), and stays for the registry's life.
`BUILT_IN_TOKENS` and `TOKENS` are the fixed built-ins alone, read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

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


BUILT_IN_TOKENS: tuple[Token, ...] = (
    Token("SOL", "11111111111111111111111111111111", 9, native=True),
    Token("WSOL", WSOL_MINT, 9),
    Token("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6),
    Token("USDT", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB", 6),
    Token("BONK", "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", 5),
    Token("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6),
    Token("RAY", "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R", 6),
    Token("WIF", "EKpQGSJtjMFqKZ9KQanSqYXRcF8fBopzLHYxdM65zcjm", 6),
)
# The built-in tokens by symbol, read-only: for code that needs only the fixed built-ins.
TOKENS: Mapping[str, Token] = MappingProxyType({t.symbol: t for t in BUILT_IN_TOKENS})
BUILT_IN = frozenset(TOKENS)  # the symbols every registry knows from the start
MAX_AMOUNT = Decimal("1000000000000")  # 1e12 whole tokens: anything above is a typo


class TokenRegistry:
    """The tokens one engine knows: the built-in ones, then every launched token it applies
    (`register`), for the registry's life. Each engine has its own; none is shared."""

    def __init__(self, built_in: Iterable[Token] = BUILT_IN_TOKENS) -> None:
        self._built_in = tuple(built_in)
        self._built_in_symbols = frozenset(t.symbol for t in self._built_in)
        self._tokens: dict[str, Token] = {}
        self._by_mint: dict[str, Token] = {}
        for token in self._built_in:
            self._add(token)

    def _add(self, token: Token) -> None:
        self._tokens[token.symbol] = token
        if not token.native or token.swap_mint not in self._by_mint:
            self._by_mint[token.swap_mint] = token  # wSOL's mint: the non-native token

    def find(self, symbol: str, *, field: str) -> Token:
        """The token `symbol` names (any case); `UnknownTokenError` naming `field` and the
        known tokens if there is none."""
        token = self.get(symbol)
        if token is None:
            known = ", ".join(sorted(self._tokens))
            raise UnknownTokenError(f"unknown token {symbol!r}; known tokens: {known}", field=field)
        return token

    def get(self, symbol: str) -> Token | None:
        """The token `symbol` names (any case), or None."""
        return self._tokens.get(symbol.upper()) if isinstance(symbol, str) else None

    def by_mint(self, mint: str) -> Token | None:
        """The token trading `mint` (for the wSOL mint: WSOL, not native SOL)."""
        return self._by_mint.get(mint)

    def register(self, token: Token) -> Token:
        """Add a launched token and return the registered one.

        Registering the same token again changes nothing; `ValueError` if it is native, if
        its symbol is built in or registered with another mint or decimals, or if another
        token holds its mint.
        """
        if token.native or token.symbol != token.symbol.upper() or token.decimals < 0:
            raise ValueError(
                f"not a launched token (upper-case, not native, decimals >= 0): {token}"
            )
        if token.symbol in self._built_in_symbols:
            raise ValueError(f"{token.symbol} is a built-in token, not a launched one")
        known = self._tokens.get(token.symbol)
        if known is not None:
            if known != token:
                raise ValueError(
                    f"{token.symbol} is registered with mint {known.mint} and "
                    f"{known.decimals} decimals, not {token.mint} and {token.decimals}"
                )
            return known
        holder = next((t.symbol for t in self._tokens.values() if t.mint == token.mint), None)
        if holder is not None:
            raise ValueError(f"mint {token.mint} belongs to {holder}, not {token.symbol}")
        self._add(token)
        return token

    def unregister(self, symbol: str) -> None:
        """Forget a launched token whose launch could not be applied (built-ins stay)."""
        token = self.get(symbol)
        if token is None or token.symbol in self._built_in_symbols:
            return
        del self._tokens[token.symbol]
        if self._by_mint.get(token.swap_mint) is token:
            del self._by_mint[token.swap_mint]

    def is_launched(self, symbol: str) -> bool:
        """Whether `symbol` is a token registered from a launch (not a built-in)."""
        token = self.get(symbol)
        return token is not None and token.symbol not in self._built_in_symbols

    def built_in(self) -> tuple[Token, ...]:
        return self._built_in

    def values(self) -> tuple[Token, ...]:
        """Every token, built-in ones first, then launched ones as they were registered."""
        return tuple(self._tokens.values())

    def __iter__(self) -> Iterator[Token]:
        return iter(self.values())

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and self.get(symbol) is not None


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
