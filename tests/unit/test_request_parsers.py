"""Property-based tests (Hypothesis) of every request parser: whatever the client sends, each
either returns a value the engine can trust or refuses it with a 4xx error naming a field
the client sent — never another exception (a 5xx) and never a silently altered value."""

from __future__ import annotations

import json
import string
import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_engine.adapters.cursor import decode_cursor, encode_cursor
from order_engine.api.admin import parse_launch_body
from order_engine.api.errors import HttpError
from order_engine.api.jsonbody import parse_json_object
from order_engine.api.schemas import parse_execute_body
from order_engine.api.validation import MAX_SEQ, parse_after, parse_amount, whole_number
from order_engine.domain.amounts import (
    MAX_FRACTION_DIGITS,
    MAX_WHOLE_DIGITS,
    NotPlainDecimalError,
    money,
    parse_plain_decimal,
)
from order_engine.domain.errors import RequestError
from order_engine.engine.requests import OrderRequest
from order_engine.engine.service import parse_order_id

PROPERTIES = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
ORDER_FIELDS = [
    "tokenIn",
    "tokenOut",
    "amountIn",
    "amount",
    "slippageBps",
    "type",
    "clientOrderId",
    "limitPrice",
    "timeInForceSeconds",
    "expiresAt",
    "venue",
    "maxPrice",
    "maxPriceImpactBps",
]
REQUIRED_ORDER_FIELDS = {"tokenIn", "tokenOut", "amountIn"}
LAUNCH_FIELDS = ["symbol", "venue", "price", "quote", "decimals", "depthUsd"]
REQUIRED_LAUNCH_FIELDS = {"symbol", "venue", "price"}

# text a client may send: ASCII, digits of other scripts, spaces, signs, exponents
tricky_text = st.text(
    alphabet=st.sampled_from(string.printable + "١٢３４²½_+-eE.\u00a0\u2007"), max_size=40
) | st.text(max_size=20)
digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
plain_decimals = st.builds(
    lambda whole, fraction: whole if not fraction else f"{whole}.{fraction}",
    st.text(alphabet="0123456789", min_size=1, max_size=MAX_WHOLE_DIGITS),
    st.text(alphabet="0123456789", max_size=MAX_FRACTION_DIGITS),
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | tricky_text
    | plain_decimals
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def bodies(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from(fields) | st.text(max_size=12)
    return st.dictionaries(keys, json_values, max_size=len(fields) + 1)


@PROPERTIES
@given(plain_decimals)
def test_a_plain_decimal_parses_to_exactly_its_value(text: str) -> None:
    value = parse_plain_decimal(text)
    assert value == Decimal(text)
    assert "E" not in money(value) and "e" not in money(value)
    assert parse_plain_decimal(money(value)) == value


@PROPERTIES
@given(tricky_text)
def test_any_text_is_a_plain_decimal_or_refused_with_a_reason(text: str) -> None:
    try:
        value = parse_plain_decimal(text)
    except NotPlainDecimalError as exc:
        assert str(exc)
        return
    assert set(text) <= set("0123456789.") and value.is_finite() and value >= 0
    assert Decimal(money(value)) == value


@PROPERTIES
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_money_is_never_in_exponent_form(value: Decimal) -> None:
    text = money(value)
    assert "E" not in text and Decimal(text) == value


@PROPERTIES
@given(st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), json_values))
def test_any_body_is_a_json_object_or_a_400(raw: bytes) -> None:
    try:
        data = parse_json_object(raw)
    except HttpError as exc:
        assert exc.status == 400 and exc.message
        return
    assert isinstance(data, dict)


@PROPERTIES
@given(st.text(min_size=1, max_size=10), json_scalars, json_scalars)
def test_a_key_given_twice_is_refused_naming_it(key: str, first: Any, second: Any) -> None:
    name = json.dumps(key)
    raw = f"{{{name}: {json.dumps(first)}, {name}: {json.dumps(second)}}}".encode()
    try:
        parse_json_object(raw)
    except HttpError as exc:
        assert (exc.status, exc.code, exc.field) == (400, "duplicate_key", key)
    else:
        raise AssertionError("a duplicate key was accepted")


def assert_names_a_sent_field(exc: RequestError | HttpError, body: dict[str, Any]) -> None:
    assert exc.message and exc.field is not None
    assert exc.field in body or exc.field in REQUIRED_ORDER_FIELDS | REQUIRED_LAUNCH_FIELDS
    for words in ("Input should", "Value error", "Field required", "pydantic"):
        assert words not in exc.message, exc.message


@PROPERTIES
@given(bodies(ORDER_FIELDS))
def test_any_order_body_parses_or_is_refused_naming_a_field_it_sent(body: dict[str, Any]) -> None:
    try:
        request = parse_execute_body(json.dumps(body).encode())
    except (RequestError, HttpError) as exc:
        assert_names_a_sent_field(exc, body)
        return
    assert isinstance(request, OrderRequest)
    assert request.amount_field in body
    assert request.amount_in.is_finite() and "E" not in money(request.amount_in)
    assert 0 <= request.slippage_bps <= 5000


@PROPERTIES
@given(
    st.sampled_from(["SOL", "USDC", "bonk"]),
    st.sampled_from(["USDT", "JUP"]),
    plain_decimals,
    st.sampled_from(["amountIn", "amount"]),
    st.integers(min_value=0, max_value=5000),
)
def test_a_well_formed_order_keeps_its_exact_amount(
    token_in: str, token_out: str, amount: str, name: str, slippage: int
) -> None:
    body = {"tokenIn": token_in, "tokenOut": token_out, name: amount, "slippageBps": slippage}
    request = parse_execute_body(json.dumps(body).encode())
    assert (request.amount_in, request.amount_field) == (Decimal(amount), name)
    assert str(request.amount_in) == str(Decimal(amount))  # not rounded, not re-scaled
    assert request.slippage_bps == slippage


@PROPERTIES
@given(bodies(LAUNCH_FIELDS))
def test_any_launch_body_parses_or_is_refused_naming_a_field_it_sent(
    body: dict[str, Any],
) -> None:
    try:
        launch = parse_launch_body(json.dumps(body).encode())
    except (RequestError, HttpError) as exc:
        assert_names_a_sent_field(exc, body)
        return
    assert launch.price.is_finite() and launch.depthUsd.is_finite()


@PROPERTIES
@given(tricky_text | digits | st.integers(min_value=0).map(str))
def test_after_is_a_seq_in_range_or_refused(text: str) -> None:
    try:
        after = parse_after(text)
    except RequestError as exc:
        assert exc.field == "after"
        return
    assert 0 <= after <= MAX_SEQ
    assert text == "" or (text.isascii() and int(text) == after)


@PROPERTIES
@given(tricky_text | digits)
def test_a_page_limit_is_in_range_or_refused(text: str) -> None:
    try:
        limit = whole_number(text, "limit", low=1, high=200, default=50)
    except RequestError as exc:
        assert exc.field == "limit" and "limit" in exc.message
        return
    assert 1 <= limit <= 200 and int(text) == limit


@PROPERTIES
@given(tricky_text | plain_decimals)
def test_a_quote_amount_is_plain_or_refused(text: str) -> None:
    try:
        amount = parse_amount(text, "amountIn")
    except RequestError as exc:
        assert exc.field == "amountIn"
        return
    assert amount == Decimal(text)


@PROPERTIES
@given(st.integers(min_value=0, max_value=2**63 - 1), st.uuids())
def test_a_cursor_round_trips(created_ms: int, order_id: uuid.UUID) -> None:
    assert decode_cursor(encode_cursor(created_ms, str(order_id))) == (created_ms, str(order_id))


@PROPERTIES
@given(
    tricky_text
    | st.builds(
        encode_cursor,
        st.integers(min_value=0, max_value=10**40),
        st.text(max_size=40),
    )
)
def test_any_cursor_decodes_in_range_or_is_refused(cursor: str) -> None:
    try:
        created_ms, order_id = decode_cursor(cursor)
    except RequestError as exc:
        assert exc.field == "cursor"
        return
    assert 0 <= created_ms < 2**63 and order_id


@PROPERTIES
@given(tricky_text | st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()))
def test_an_order_id_is_a_canonical_uuid_or_refused(text: str) -> None:
    try:
        order_id = parse_order_id(text)
    except RequestError as exc:
        assert exc.field == "orderId"
        return
    assert order_id == str(uuid.UUID(order_id))


def test_the_documented_statuses_are_the_lifecycles() -> None:
    from typing import get_args

    from order_engine.api.models import Status
    from order_engine.domain.orders import OrderStatus

    assert set(get_args(Status)) == {s.value for s in OrderStatus}
