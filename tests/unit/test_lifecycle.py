"""The order lifecycle: one door (`Order.apply`), a table of legal moves, named errors."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from order_engine.domain.errors import IllegalTransitionError
from order_engine.domain.legs import Leg
from order_engine.domain.orders import (
    CANCELLABLE,
    TERMINAL,
    TRANSITIONS,
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
)
from tests.event_samples import payload_for

S = OrderStatus
PATH_TO: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    S.PENDING: (),
    S.ROUTING: (S.ROUTING,),
    S.BUILDING: (S.ROUTING, S.BUILDING),
    S.SUBMITTED: (S.ROUTING, S.BUILDING, S.SUBMITTED),
    S.CONFIRMED: (S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED),
    S.FAILED: (S.ROUTING, S.FAILED),
    S.CANCELLED: (S.CANCELLED,),
    S.WAITING: (S.WAITING,),
    S.EXPIRED: (S.WAITING, S.EXPIRED),
}
ILLEGAL = [(a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a]]
LEG = Leg("raydium", "5sig", Decimal("1.5"), Decimal("222"), 1).landed(Decimal("223.875"))
CONFIRMED_DATA = {
    "txHash": "5sig",
    "dex": "raydium",
    "executedPrice": "149.250000000000",
    "amountOut": "223.875",
    "minAmountOut": "222",
    "filledAmountIn": "1.5",
    "partial": False,
    "legs": [LEG.as_dict()],
}


def new_order(order_type: OrderType = OrderType.LIMIT) -> Order:
    """A limit order by default: it can take every path of the table, waiting included."""
    return Order("ord-1", "SOL", "USDC", Decimal("1.5"), 50, created_ms=1_000, type=order_type)


def order_at(status: OrderStatus) -> Order:
    order = new_order()
    order.start()
    for i, step in enumerate(PATH_TO[status]):
        order.apply(payload_for(step), ts_ms=2_000 + i, attempt=1)
    assert order.status is status
    return order


def test_path_table_covers_every_status() -> None:
    assert set(PATH_TO) == set(S)
    assert set(TRANSITIONS) == set(S)


def test_happy_path_emits_each_status_once_in_order() -> None:
    order = new_order()
    events = [order.start()]
    for i, status in enumerate((S.ROUTING, S.BUILDING, S.SUBMITTED), start=1):
        events.append(order.apply(payload_for(status), ts_ms=1_000 + i, attempt=1))
    order.legs = [LEG]
    events.append(order.confirm_fill(ts_ms=1_010))

    assert [e.status for e in events] == [
        S.PENDING,
        S.ROUTING,
        S.BUILDING,
        S.SUBMITTED,
        S.CONFIRMED,
    ]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.attempt for e in events] == [0, 1, 1, 1, 1]
    assert events[0].ts_ms == 1_000
    assert [e.is_terminal for e in events] == [False] * 4 + [True]
    assert order.status is S.CONFIRMED and order.is_terminal
    assert (order.seq, order.updated_ms) == (5, 1_010)
    assert (order.dex, order.tx_hash) == ("raydium", "5sig")
    assert (order.executed_price, order.amount_out) == (Decimal("149.25"), Decimal("223.875"))
    assert events[-1].data == CONFIRMED_DATA


def test_event_as_dict_carries_the_contract_fields() -> None:
    order = order_at(S.SUBMITTED)
    order.legs = [LEG]
    payload = order.confirm_fill(ts_ms=9_000).as_dict()
    assert payload == {
        "orderId": "ord-1",
        "seq": 5,
        "status": "confirmed",
        "tsMs": 9_000,
        "attempt": 1,
        **CONFIRMED_DATA,
    }


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_move_outside_the_table_is_illegal(source: OrderStatus, target: OrderStatus) -> None:
    order = order_at(source)
    before = (order.status, order.seq, order.updated_ms, order.attempt)
    with pytest.raises(IllegalTransitionError) as caught:
        order.apply(payload_for(target), ts_ms=99_000, attempt=7)
    assert caught.value.code == "illegal_transition"
    assert (order.status, order.seq, order.updated_ms, order.attempt) == before


def test_illegal_list_is_not_trivially_small() -> None:
    legal = sum(len(v) for v in TRANSITIONS.values())
    assert len(ILLEGAL) == len(S) ** 2 - legal
    assert (S.SUBMITTED, S.CANCELLED) in ILLEGAL
    assert (S.PENDING, S.SUBMITTED) in ILLEGAL


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("target", list(S))
def test_nothing_leaves_a_terminal_state(terminal: OrderStatus, target: OrderStatus) -> None:
    order = order_at(terminal)
    with pytest.raises(IllegalTransitionError):
        order.apply(payload_for(target), ts_ms=5_000)
    assert order.status is terminal


@pytest.mark.parametrize("status", [s for s in S if s is not S.PENDING])
def test_first_event_must_be_pending(status: OrderStatus) -> None:
    order = new_order()
    with pytest.raises(IllegalTransitionError, match="must start as pending"):
        order.apply(payload_for(status), ts_ms=1)
    assert (order.seq, order.status) == (0, S.PENDING)


def test_start_twice_is_illegal() -> None:
    order = new_order()
    order.start()
    with pytest.raises(IllegalTransitionError):
        order.start()


def test_seq_increments_by_one_and_attempt_sticks_until_changed() -> None:
    order = new_order()
    first = order.start()
    routing = order.apply(payload_for(S.ROUTING), ts_ms=2, attempt=2)
    building = order.apply(payload_for(S.BUILDING), ts_ms=3)
    assert [first.seq, routing.seq, building.seq] == [1, 2, 3]
    assert order.seq == building.seq
    assert (routing.attempt, building.attempt, order.attempt) == (2, 2, 2)


@pytest.mark.parametrize("status", [S.ROUTING, S.BUILDING, S.CANCELLED])
def test_the_payload_names_the_status_and_the_event_carries_its_wire_form(
    status: OrderStatus,
) -> None:
    order = order_at(S.ROUTING) if status is S.BUILDING else new_order()
    if status is not S.BUILDING:
        order.start()
    payload = payload_for(status)
    event = order.apply(payload, ts_ms=3)
    assert (event.status, order.status) == (status, status)
    assert event.data == payload.as_dict()
    event.data.clear()  # each event has its own copy
    assert payload.as_dict() != {} or status is S.ROUTING


def test_fail_carries_the_error_and_every_attempt() -> None:
    order = order_at(S.SUBMITTED)
    first = OrderError("slippage_exceeded", "output fell below minimum", attempt=1, ts_ms=10)
    second = OrderError("venue_unavailable", "raydium is down", attempt=2, ts_ms=20)
    order.record_attempt_error(first)
    order.record_attempt_error(second)
    final = OrderError("venue_unavailable", "gave up after 2 attempts", attempt=2, ts_ms=30)

    event = order.fail(final, ts_ms=30)

    assert event.status is S.FAILED and event.is_terminal
    assert event.data["error"] == {
        "code": "venue_unavailable",
        "message": "gave up after 2 attempts",
    }
    assert event.data["attempts"] == [
        {
            "code": "slippage_exceeded",
            "message": "output fell below minimum",
            "attempt": 1,
            "tsMs": 10,
        },
        {"code": "venue_unavailable", "message": "raydium is down", "attempt": 2, "tsMs": 20},
    ]
    assert order.error == final
    assert order.attempt_errors == [first, second]


def test_fail_of_a_final_order_leaves_its_error_alone() -> None:
    order = order_at(S.CONFIRMED)
    with pytest.raises(IllegalTransitionError):
        order.fail(OrderError("late", "too late"), ts_ms=1)
    assert order.error is None


def test_order_error_round_trips_through_a_dict() -> None:
    error = OrderError("no_quotes", "nobody quoted", attempt=3, ts_ms=1234)
    assert OrderError.from_dict(error.as_dict()) == error
    assert OrderError.from_dict({"code": "x", "message": "y"}) == OrderError("x", "y", 0, 0)


def test_cancellable_and_terminal_sets() -> None:
    assert frozenset({S.PENDING, S.WAITING, S.ROUTING, S.BUILDING}) == CANCELLABLE
    assert frozenset({S.CONFIRMED, S.FAILED, S.CANCELLED, S.EXPIRED}) == TERMINAL
    for status in CANCELLABLE:
        order = order_at(status)
        assert order.apply(payload_for(S.CANCELLED), ts_ms=7).is_terminal


def test_order_event_is_terminal_follows_the_table() -> None:
    for status in S:
        assert OrderEvent("o", 1, status, 0, 0).is_terminal is (status in TERMINAL)


@pytest.mark.parametrize("status", [S.WAITING, S.EXPIRED])
def test_a_market_order_never_waits_or_expires(status: OrderStatus) -> None:
    order = new_order(OrderType.MARKET)
    order.start()
    with pytest.raises(IllegalTransitionError, match="market order never moves"):
        order.apply(payload_for(status), ts_ms=2_000)
    assert (order.status, order.seq) == (S.PENDING, 1)


def test_a_limit_order_waits_then_routes_or_expires() -> None:
    filled = order_at(S.WAITING)
    assert filled.apply(payload_for(S.ROUTING), ts_ms=3_000, attempt=1).status is S.ROUTING
    expired = order_at(S.WAITING)
    assert expired.apply(payload_for(S.EXPIRED), ts_ms=3_000).is_terminal


@pytest.mark.parametrize("status", [S.ROUTING, S.BUILDING, S.SUBMITTED])
def test_a_fired_limit_order_whose_price_moved_away_waits_again(status: OrderStatus) -> None:
    order = order_at(status)
    order.legs = [Leg("raydium", "5sig", Decimal("1.5"), Decimal("222"), 1).failed("x", "y")]
    event = order.apply(payload_for(S.WAITING), ts_ms=9_000)
    assert (event.status, order.status) == (S.WAITING, S.WAITING)
    assert order.apply(payload_for(S.ROUTING), ts_ms=9_001, attempt=2).status is S.ROUTING


@pytest.mark.parametrize("status", [S.ROUTING, S.BUILDING, S.SUBMITTED])
def test_a_market_order_never_goes_back_to_waiting(status: OrderStatus) -> None:
    order = new_order(OrderType.MARKET)
    order.start()
    for i, step in enumerate(PATH_TO[status]):
        order.apply(payload_for(step), ts_ms=2_000 + i, attempt=1)
    with pytest.raises(IllegalTransitionError, match="market order never moves"):
        order.apply(payload_for(S.WAITING), ts_ms=9_000)
    assert order.status is status


@pytest.mark.parametrize("leg", [Leg("raydium", "5sig", Decimal("1.5"), Decimal("222"), 1), LEG])
def test_an_order_with_a_sent_or_filled_leg_never_waits_again(leg: Leg) -> None:
    """Nothing sent may be lost: a leg whose outcome is unknown must be settled first, and
    an order that filled (even a part) is confirmed, never put back to wait."""
    order = order_at(S.SUBMITTED)
    order.legs = [leg]
    with pytest.raises(IllegalTransitionError, match="cannot wait again"):
        order.apply(payload_for(S.WAITING), ts_ms=9_000)
    assert order.status is S.SUBMITTED
