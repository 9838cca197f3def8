"""Token registry and request validation of tokens and amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from order_engine.domain.errors import RequestError, SameTokenError, UnknownTokenError
from order_engine.domain.tokens import (
    MAX_AMOUNT,
    TOKENS,
    WSOL_MINT,
    check_amount,
    check_pair,
    find_token,
)

SOL, WSOL, USDC, USDT = TOKENS["SOL"], TOKENS["WSOL"], TOKENS["USDC"], TOKENS["USDT"]


@pytest.mark.parametrize("symbol", ["SOL", "sol", "Sol", "sOl"])
def test_find_token_ignores_case(symbol: str) -> None:
    assert find_token(symbol, field="tokenIn") is SOL


def test_find_token_knows_every_registered_symbol() -> None:
    for symbol, token in TOKENS.items():
        assert find_token(symbol.lower(), field="tokenIn") is token


@pytest.mark.parametrize(
    "symbol", ["DOGE", "", " SOL", "SOL2", "So11111111111111111111111111111111111111112"]
)
def test_unknown_token_names_the_field_and_the_known_tokens(symbol: str) -> None:
    with pytest.raises(UnknownTokenError) as caught:
        find_token(symbol, field="tokenOut")
    assert caught.value.field == "tokenOut"
    assert caught.value.code == "unknown_token"
    assert "USDC" in caught.value.message and repr(symbol) in caught.value.message


@pytest.mark.parametrize("value", [None, 5, ["SOL"]])
def test_find_token_rejects_non_strings(value: Any) -> None:
    with pytest.raises(UnknownTokenError) as caught:
        find_token(value, field="tokenIn")
    assert caught.value.field == "tokenIn"


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
