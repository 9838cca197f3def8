"""Token registry and request validation of tokens and amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from order_engine.domain.errors import RequestError, SameTokenError, UnknownTokenError
from order_engine.domain.tokens import (
    BUILT_IN,
    BUILT_IN_TOKENS,
    MAX_AMOUNT,
    TOKENS,
    WSOL_MINT,
    Token,
    TokenRegistry,
    check_amount,
    check_pair,
)

SOL, WSOL, USDC, USDT = TOKENS["SOL"], TOKENS["WSOL"], TOKENS["USDC"], TOKENS["USDT"]
NEW = Token("NEWT", "NewtMint1111111111111111111111111111111111", 6)


@pytest.mark.parametrize("symbol", ["SOL", "sol", "Sol", "sOl"])
def test_find_ignores_case(symbol: str) -> None:
    assert TokenRegistry().find(symbol, field="tokenIn") is SOL


def test_a_new_registry_knows_every_built_in_symbol() -> None:
    tokens = TokenRegistry()
    for symbol, token in TOKENS.items():
        assert tokens.find(symbol.lower(), field="tokenIn") is token
        assert tokens.get(symbol.lower()) is token and symbol.lower() in tokens
    assert tokens.built_in() == BUILT_IN_TOKENS == tokens.values() == tuple(tokens)
    assert len(tokens) == len(TOKENS) and set(TOKENS) == BUILT_IN


@pytest.mark.parametrize(
    "symbol", ["DOGE", "", " SOL", "SOL2", "So11111111111111111111111111111111111111112"]
)
def test_unknown_token_names_the_field_and_the_known_tokens(symbol: str) -> None:
    with pytest.raises(UnknownTokenError) as caught:
        TokenRegistry().find(symbol, field="tokenOut")
    assert caught.value.field == "tokenOut"
    assert caught.value.code == "unknown_token"
    assert "USDC" in caught.value.message and repr(symbol) in caught.value.message


@pytest.mark.parametrize("value", [None, 5, ["SOL"]])
def test_find_rejects_non_strings(value: Any) -> None:
    tokens = TokenRegistry()
    with pytest.raises(UnknownTokenError) as caught:
        tokens.find(value, field="tokenIn")
    assert caught.value.field == "tokenIn"
    assert tokens.get(value) is None and value not in tokens


def test_the_built_in_tokens_are_read_only() -> None:
    with pytest.raises(TypeError):
        TOKENS["NEWT"] = NEW  # type: ignore[index]
    TokenRegistry().register(NEW)
    assert "NEWT" not in TOKENS and len(BUILT_IN_TOKENS) == len(TOKENS)


def test_a_launched_token_joins_the_registry() -> None:
    tokens = TokenRegistry()
    assert tokens.get("newt") is None and "NEWT" not in tokens
    assert not tokens.is_launched("NEWT") and not tokens.is_launched("SOL")
    assert tokens.register(NEW) is NEW
    assert tokens.find("newt", field="tokenOut") is NEW and "newt" in tokens
    assert tokens.is_launched("newt") and not tokens.is_launched("USDC")
    assert tokens.values() == (*BUILT_IN_TOKENS, NEW) and tokens.built_in() == BUILT_IN_TOKENS
    assert tokens.by_mint(NEW.mint) is NEW
    assert tokens.register(Token("NEWT", NEW.mint, 6)) is NEW  # again: nothing changes
    with pytest.raises(UnknownTokenError, match="NEWT"):  # the known tokens include it
        tokens.find("DOGE", field="tokenOut")


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (Token("NEWT", "other-mint", 6), "registered with mint"),
        (Token("NEWT", NEW.mint, 9), "registered with mint"),
        (Token("OTHER", NEW.mint, 6), "belongs to NEWT"),
        (Token("OTHER", USDC.mint, 6), "belongs to USDC"),
        (Token("BONK", "bonk-2", 5), "built-in"),
        (Token("SOL2", "sol-2", 9, native=True), "not a launched token"),
        (Token("lower", "lower-mint", 6), "not a launched token"),
        (Token("NEG", "neg-mint", -1), "not a launched token"),
    ],
)
def test_a_conflicting_registration_raises_and_changes_nothing(token: Token, why: str) -> None:
    tokens = TokenRegistry()
    tokens.register(NEW)
    before = tokens.values()
    with pytest.raises(ValueError, match=why):
        tokens.register(token)
    assert tokens.values() == before and tokens.by_mint(token.mint) in (None, NEW, USDC)


def test_by_mint_finds_the_token_a_pool_trades() -> None:
    tokens = TokenRegistry()
    assert tokens.by_mint(WSOL_MINT) is WSOL  # wSOL's mint: never native SOL
    assert tokens.by_mint(USDC.mint) is USDC
    assert tokens.by_mint(SOL.mint) is None  # the native "mint" is no token account's
    assert tokens.by_mint(NEW.mint) is None


def test_registries_are_independent() -> None:
    """A token launched in one engine is unknown to another engine in the same process."""
    one, other = TokenRegistry(), TokenRegistry()
    one.register(NEW)
    assert "NEWT" in one and "NEWT" not in other
    assert other.by_mint(NEW.mint) is None and not other.is_launched("NEWT")
    with pytest.raises(UnknownTokenError):
        other.find("NEWT", field="tokenOut")
    other.register(Token("NEWT", "another-mint", 2))  # the same symbol, elsewhere: no conflict
    assert one.find("NEWT", field="tokenOut") is NEW


def test_registry_is_consistent() -> None:
    mints = [t.mint for t in TOKENS.values()]
    assert len(set(mints)) == len(mints)
    assert all(symbol == t.symbol and symbol.isupper() for symbol, t in TOKENS.items())
    assert [t.symbol for t in TOKENS.values() if t.native] == ["SOL"]
    assert (SOL.decimals, USDC.decimals, TOKENS["BONK"].decimals) == (9, 6, 5)


def test_native_sol_trades_as_wsol() -> None:
    assert SOL.swap_mint == WSOL_MINT == WSOL.swap_mint
    assert USDC.swap_mint == USDC.mint
    assert SOL.quantum == Decimal("1e-9")
    assert USDC.quantum == Decimal("0.000001")


@pytest.mark.parametrize(
    ("a", "b"), [("SOL", "WSOL"), ("WSOL", "SOL"), ("SOL", "SOL"), ("USDC", "USDC")]
)
def test_same_asset_is_rejected(a: str, b: str) -> None:
    with pytest.raises(SameTokenError) as caught:
        check_pair(TOKENS[a], TOKENS[b])
    assert caught.value.field == "tokenOut"
    assert isinstance(caught.value, RequestError)


@pytest.mark.parametrize(
    ("a", "b"), [("SOL", "USDC"), ("USDC", "SOL"), ("WSOL", "USDT"), ("USDC", "USDT")]
)
def test_different_assets_pass(a: str, b: str) -> None:
    check_pair(TOKENS[a], TOKENS[b])


@pytest.mark.parametrize(
    ("raw", "token", "why"),
    [
        ("0", "SOL", "greater than 0"),
        ("0.000", "USDC", "greater than 0"),
        ("-1", "SOL", "greater than 0"),
        ("-0.000001", "USDC", "greater than 0"),
        ("NaN", "SOL", "finite"),
        ("sNaN", "SOL", "finite"),
        ("Infinity", "SOL", "finite"),
        ("-Infinity", "USDC", "finite"),
        ("1000000000000.000001", "USDC", "at most"),
        ("1E+13", "SOL", "at most"),
        ("1.1234567", "USDC", "more than 6 decimal places"),
        ("0.0000000001", "SOL", "more than 9 decimal places"),
        ("0.000001", "BONK", "more than 5 decimal places"),
    ],
)
def test_bad_amounts_are_rejected_with_the_field(raw: str, token: str, why: str) -> None:
    with pytest.raises(RequestError, match=why) as caught:
        check_amount(Decimal(raw), TOKENS[token], field="amountIn")
    assert caught.value.field == "amountIn"
    assert caught.value.code == "invalid_request"


@pytest.mark.parametrize(
    ("raw", "token"),
    [
        ("1e-9", "SOL"),
        ("0.000000001", "SOL"),
        ("1.5", "SOL"),
        ("1.123456", "USDC"),
        ("1.1000000000", "USDC"),  # trailing zeros add no precision
        ("1E+3", "USDC"),
        (str(MAX_AMOUNT), "USDC"),
        ("0.00001", "BONK"),
    ],
)
def test_good_amounts_are_returned_unchanged(raw: str, token: str) -> None:
    amount = Decimal(raw)
    assert check_amount(amount, TOKENS[token], field="amountIn") is amount
