"""Validation in our words: every refused field is named as the client sent it and told what
it must be (never a parser's or pydantic's message). Query parameters are parsed here too."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from order_engine.api.errors import error_response
from order_engine.api.jsonbody import JsonNumber
from order_engine.api.jsonresp import JsonResponse
from order_engine.domain.amounts import (
    NotPlainDecimalError,
    parse_plain_decimal,
    parse_whole_number,
)
from order_engine.domain.errors import RequestError
from order_engine.domain.orders import OrderStatus

MAX_SLIPPAGE_BPS = 5000
MAX_SEQ = 2**31 - 1  # an event's seq (the store's column is a 32-bit integer)
MAX_PAGE = 200
_TOKEN = 'a token symbol, as a JSON string (e.g. "SOL")'
_DECIMAL = 'a positive plain decimal number, as a JSON string (e.g. "1.5")'
_STATUSES = ", ".join(s.value for s in OrderStatus)
EXPECTED: dict[str, str] = {
    "tokenIn": _TOKEN,
    "tokenOut": _TOKEN,
    "token": _TOKEN,
    "amountIn": _DECIMAL,
    "amount": _DECIMAL,
    "slippageBps": f"a whole number of basis points from 0 to {MAX_SLIPPAGE_BPS}",
    "type": "one of market, limit, sniper",
    "clientOrderId": "a string of 1 to 64 characters",
    "limitPrice": _DECIMAL,
    "maxPrice": _DECIMAL,
    "timeInForceSeconds": "a whole number of seconds",
    "expiresAt": 'an ISO 8601 time with a zone, as a string (e.g. "2026-11-25T18:00:00Z")',
    "venue": "a venue name, as a string of 1 to 16 characters",
    "maxPriceImpactBps": "a whole number of basis points",
    "symbol": "a token symbol, as a string of 1 to 16 characters",
    "price": _DECIMAL,
    "quote": _TOKEN,
    "decimals": "a whole number from 0 to 12",
    "depthUsd": _DECIMAL,
    "limit": f"a whole number from 1 to {MAX_PAGE}",
    "status": f"one of {_STATUSES}",
    "after": f"a whole number from 0 to {MAX_SEQ} (an event seq)",
}


def decimal_field(value: Any) -> Any:
    """A money field's value (before pydantic): a JSON integer or a plain decimal, written
    as a JSON string or number. `ValueError` in words that follow the field's name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    text = value.text if isinstance(value, JsonNumber) else value
    if not isinstance(text, str):
        raise ValueError("must be a plain decimal number, as a JSON string or number")
    try:
        return parse_plain_decimal(text)
    except NotPlainDecimalError as exc:
        raise ValueError(str(exc)) from exc


def describe(field: str, kind: str, detail: str | None = None) -> str:
    """Our message for a refused `field`: pydantic's error `kind`, and our own `detail`."""
    if kind == "missing":
        return f"{field} is required"
    if kind == "extra_forbidden":
        return f"{field} is not a known field"
    if kind == "value_error" and detail:
        return f"{field} {detail}"
    expected = EXPECTED.get(field)
    return f"{field} must be {expected}" if expected else f"{field} is not valid"


def field_of(loc: Sequence[Any], skip: Sequence[str] = ()) -> str:
    parts = [str(p) for p in loc if p not in skip]
    return parts[0] if parts else "body"


def first_error(exc: ValidationError, skip: Sequence[str] = ()) -> RequestError:
    """The first thing wrong with a body (or query), as a `RequestError` naming its field."""
    first = exc.errors()[0]
    field = field_of(first.get("loc", ()), skip)
    ctx = first.get("ctx") or {}
    detail = str(ctx["error"]) if "error" in ctx else None
    return RequestError(describe(field, first["type"], detail), field=field)


def query_error(_: Request, exc: Exception) -> JsonResponse:
    """FastAPI's own parameter checks (a missing query parameter), in our words."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    field = field_of(first.get("loc", ()), ("query", "path", "body", "header"))
    return error_response(RequestError(describe(field, first["type"]), field=field))


def whole_number(raw: str | None, field: str, *, low: int, high: int, default: int) -> int:
    """A query parameter that must be ASCII digits within [low, high]."""
    if raw is None:
        return default
    value = parse_whole_number(raw, low=low, high=high)
    if value is None:
        raise RequestError(describe(field, "range"), field=field)
    return value


def parse_after(raw: str | None, field: str = "after") -> int:
    """`after` (or `Last-Event-ID`): an event seq the store can hold; empty means 0."""
    if raw is None or raw == "":
        return 0
    value = parse_whole_number(raw, low=0, high=MAX_SEQ)
    if value is None:
        raise RequestError(f"{field} must be {EXPECTED['after']}", field=field)
    return value


def parse_status(raw: str | None) -> OrderStatus | None:
    if raw is None:
        return None
    try:
        return OrderStatus(raw)
    except ValueError:
        raise RequestError(describe("status", "enum"), field="status") from None


def parse_amount(raw: str, field: str) -> Decimal:
    """A decimal query parameter (e.g. the quote's `amountIn`)."""
    try:
        return parse_plain_decimal(raw)
    except NotPlainDecimalError as exc:
        raise RequestError(f"{field} {exc}", field=field) from exc
