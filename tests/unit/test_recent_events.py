"""`RecentEvents`: an order's events count only while its history is whole (seq 1 on, none
missing) and recent; the oldest orders are let go past the limit."""

from __future__ import annotations

from order_engine.adapters.recent_events import RecentEvents
from order_engine.domain.orders import OrderEvent, OrderStatus


def ev(order_id: str, seq: int) -> OrderEvent:
    return OrderEvent(order_id, seq, OrderStatus.ROUTING, ts_ms=seq, attempt=1, data={})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def seqs(events: list[OrderEvent] | None) -> list[int] | None:
    return None if events is None else [e.seq for e in events]


def test_a_whole_history_is_answered_after_any_seq() -> None:
    recent = RecentEvents()
    for seq in (1, 2, 3):
        recent.add(ev("a", seq))
    assert seqs(recent.after("a", 0)) == [1, 2, 3]
    assert seqs(recent.after("a", 2)) == [3]
    assert seqs(recent.after("a", 3)) == []


def test_events_seen_out_of_order_or_twice_still_make_a_whole_history() -> None:
    recent = RecentEvents()
    for seq in (2, 1, 1, 3, 2):
        recent.add(ev("a", seq))
    assert seqs(recent.after("a", 0)) == [1, 2, 3]


def test_a_hole_or_a_missing_start_is_not_answered() -> None:
    recent = RecentEvents()
    for seq in (1, 3):
        recent.add(ev("holed", seq))
    recent.add(ev("late", 2))
    assert recent.after("holed", 0) is None and recent.after("late", 0) is None
    recent.add(ev("holed", 2))  # the missing one arrives: whole again
    assert seqs(recent.after("holed", 1)) == [2, 3]


def test_first_only_begins_a_history_only_at_seq_1() -> None:
    recent = RecentEvents()
    recent.add(ev("worker-side", 2), first_only=True)
    assert "worker-side" not in recent
    recent.add(ev("made-here", 1), first_only=True)
    recent.add(ev("made-here", 2), first_only=True)  # a known order takes any seq
    assert seqs(recent.after("made-here", 0)) == [1, 2]


def test_an_order_is_kept_keep_s_from_its_first_event() -> None:
    clock = Clock()
    recent = RecentEvents(keep_s=10.0, monotonic=clock)
    recent.add(ev("a", 1))
    clock.now += 10.0
    assert seqs(recent.after("a", 0)) == [1]
    clock.now += 0.1
    assert recent.after("a", 0) is None
    recent.add(ev("b", 1))  # a new order lets the expired ones go
    assert "a" not in recent and len(recent) == 1


def test_the_oldest_orders_are_let_go_past_max_orders() -> None:
    recent = RecentEvents(max_orders=2)
    for order_id in ("a", "b", "c"):
        recent.add(ev(order_id, 1))
    assert recent.after("a", 0) is None
    assert seqs(recent.after("b", 0)) == [1] and seqs(recent.after("c", 0)) == [1]
    disabled = RecentEvents(max_orders=0)
    disabled.add(ev("a", 1))
    assert disabled.after("a", 0) is None
