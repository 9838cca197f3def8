"""The `OrderStore` contract: every implementation passes the same tests."""

from __future__ import annotations

import asyncio
import base64
import uuid
from decimal import Decimal
from typing import Any

import pytest

from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.adapters.sql import SqlOrderStore
from order_engine.adapters.sql.accounts import SqlAccountStore
from order_engine.domain.accounts import Account, SealedWallet
from order_engine.domain.errors import (
    ConcurrentUpdateError,
    ConflictError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    OrderNotFoundError,
    RequestError,
)
from order_engine.domain.legs import Leg
from order_engine.domain.orders import (
    ENGINE_WALLET,
    Order,
    OrderError,
    OrderEvent,
    OrderStatus,
    OrderType,
)
from order_engine.engine.account_ports import AccountStore
from order_engine.engine.ports import Changes, OrderStore
from tests.event_samples import payload_for, with_data

S = OrderStatus
T0 = 1_700_000_000_000
TO_SUBMITTED = (S.ROUTING, S.BUILDING, S.SUBMITTED)


def new_order(
    created_ms: int = T0,
    *,
    key: str | None = None,
    amount: Decimal = Decimal("1.5"),
    order_id: str | None = None,
) -> Order:
    return Order(
        id=order_id or str(uuid.uuid4()),
        token_in="SOL",
        token_out="USDC",
        amount_in=amount,
        slippage_bps=50,
        created_ms=created_ms,
        idempotency_key=key,
    )


async def stored(store: OrderStore, created_ms: int = T0, **kwargs: object) -> Order:
    order = new_order(created_ms, **kwargs)  # type: ignore[arg-type]
    await store.create(order, order.start())
    return order


async def advance(store: OrderStore, order: Order, *statuses: OrderStatus) -> list[OrderEvent]:
    events = []
    for status in statuses:
        event = order.apply(payload_for(status), ts_ms=order.updated_ms + 1)
        await store.append(order, event)
        events.append(event)
    return events


async def events_of(store: OrderStore, order_id: str, after: int = 0) -> list[OrderEvent]:
    # Through Any: ports.OrderStore writes `list[...]` inside a class that defines `list()`,
    # which mypy reads as the method.
    found: Any = await store.events(order_id, after)
    events: list[OrderEvent] = found
    return events


def confirmation(order: Order, ts_ms: int, out: str = "0.123456789123456789") -> OrderEvent:
    """Confirm `order` as filled by one landed leg delivering `out`."""
    leg = Leg("raydium", "5wTxHash", order.amount_in, Decimal("0.000000001"), order.attempt)
    order.legs = [leg.landed(Decimal(out))]
    return order.confirm_fill(ts_ms=ts_ms)


async def test_create_get_round_trip_keeps_exact_decimals(order_store: OrderStore) -> None:
    order = new_order(amount=Decimal("0.000000001"), key="key-1")
    order.client_order_id = "client-7"
    order.request_fingerprint = "fp-1"
    await order_store.create(order, order.start())
    assert await order_store.get(order.id) == order

    await advance(order_store, order, *TO_SUBMITTED)
    await order_store.append(order, confirmation(order, T0 + 9))
    got = await order_store.get(order.id)
    assert got.min_amount_out == Decimal("0.000000001")

    assert got == order
    assert str(got.amount_in) == "1E-9"
    assert got.executed_price == Decimal("123456789.123456789")
    assert got.legs == order.legs and got.legs[0].amount_out == Decimal("0.123456789123456789")
    assert got.amount_out == Decimal("0.123456789123456789")
    assert (got.dex, got.tx_hash, got.status, got.seq) == ("raydium", "5wTxHash", S.CONFIRMED, 5)


async def test_decimal_scale_survives(order_store: OrderStore) -> None:
    order = await stored(order_store, amount=Decimal("2.50"))
    assert str((await order_store.get(order.id)).amount_in) == "2.50"


async def test_stored_state_is_not_shared_with_callers(order_store: OrderStore) -> None:
    order = await stored(order_store)
    order.record_attempt_error(OrderError("x", "caller-side only"))
    order.status = S.FAILED
    got = await order_store.get(order.id)
    got.attempt_errors.append(OrderError("y", "mutated copy"))

    again = await order_store.get(order.id)
    assert again.status is S.PENDING
    assert again.attempt_errors == []


async def test_events_come_in_order_and_resume_after(order_store: OrderStore) -> None:
    order = new_order()
    first = order.start()
    await order_store.create(order, first)
    later = await advance(order_store, order, *TO_SUBMITTED)
    last = confirmation(order, T0 + 5)
    await order_store.append(order, last)

    assert await events_of(order_store, order.id) == [first, *later, last]
    assert [e.seq for e in await events_of(order_store, order.id, after=2)] == [3, 4, 5]
    assert await events_of(order_store, order.id, after=5) == []
    assert await events_of(order_store, "no-such-order") == []


async def test_latest_seqs_reads_many_orders_at_once(order_store: OrderStore) -> None:
    orders = [await stored(order_store) for _ in range(1203)]  # over a few chunks
    await advance(order_store, orders[0], *TO_SUBMITTED)
    await advance(order_store, orders[-1], S.ROUTING)
    ids = [o.id for o in orders] + ["no-such-order"]
    latest = await order_store.latest_seqs(ids)
    assert latest == {o.id: 4 if o is orders[0] else 2 if o is orders[-1] else 1 for o in orders}
    assert await order_store.latest_seqs([]) == {}


async def test_changes_name_only_what_was_written_since_the_cursor(
    order_store: OrderStore, request: pytest.FixtureRequest
) -> None:
    before = await stored(order_store)
    mine: set[str] = {before.id}
    # PostgreSQL's feed may also name orders written just before its cursor (the horizon,
    # the snapshot's xmin, is held back by any transaction open in the cluster, e.g. another
    # test's): there it names at least what was written, each at its current seq
    exact = request.node.callspec.params["order_store"] != "postgresql"

    async def names(found: Changes, expected: dict[str, int]) -> None:
        if exact:
            assert found.latest == expected
            return
        assert expected.items() <= found.latest.items()
        for order_id in mine & found.latest.keys():
            assert found.latest[order_id] == (await order_store.get(order_id)).seq

    start = await order_store.changes(None)
    await names(start, {})  # "since now": nothing yet
    await names(await order_store.changes(start.cursor), {})  # nothing written since

    order = await stored(order_store)
    mine.add(order.id)
    await advance(order_store, before, S.ROUTING)
    first = await order_store.changes(start.cursor)
    await names(first, {order.id: 1, before.id: 2})

    await advance(order_store, order, S.ROUTING, S.BUILDING)
    second = await order_store.changes(first.cursor)
    await names(second, {order.id: 3})  # `before` was not written again
    order.best_price = Decimal("101.5")
    await order_store.save_details(order)  # a write without a new event counts too
    await names(await order_store.changes(second.cursor), {order.id: 3})
    idle = await order_store.changes((await order_store.changes(second.cursor)).cursor)
    await names(idle, {})


async def test_changes_miss_no_write_committed_while_they_read(order_store: OrderStore) -> None:
    orders = [await stored(order_store) for _ in range(40)]
    cursor = (await order_store.changes(None)).cursor
    seen: dict[str, int] = {}
    done = asyncio.Event()

    async def writer(order: Order) -> None:
        await advance(order_store, order, *TO_SUBMITTED)

    async def reader() -> None:
        nonlocal cursor
        while True:
            finished = done.is_set()
            answer = await order_store.changes(cursor)
            cursor = answer.cursor
            for order_id, seq in answer.latest.items():
                seen[order_id] = max(seq, seen.get(order_id, 0))
            if finished:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(o) for o in orders))
    done.set()
    await reading
    assert seen == {o.id: 4 for o in orders}


async def test_stale_append_raises_and_writes_nothing(order_store: OrderStore) -> None:
    order = await stored(order_store)
    winner, loser = await order_store.get(order.id), await order_store.get(order.id)
    won = with_data(winner.apply(payload_for(S.ROUTING), ts_ms=T0 + 1), {"who": "winner"})
    await order_store.append(winner, won)

    lost = with_data(loser.apply(payload_for(S.ROUTING), ts_ms=T0 + 2, attempt=2), {"who": "loser"})
    with pytest.raises(ConcurrentUpdateError):
        await order_store.append(loser, lost)

    assert await order_store.get(order.id) == winner
    assert [e.data for e in await events_of(order_store, order.id)] == [{}, {"who": "winner"}]
    await advance(order_store, winner, S.BUILDING)  # the up-to-date copy still moves on
    assert (await order_store.get(order.id)).seq == 3


async def test_stale_save_details_raises(order_store: OrderStore) -> None:
    order = await stored(order_store)
    stale = await order_store.get(order.id)
    await advance(order_store, order, S.ROUTING)
    stale.record_attempt_error(OrderError("venue_unavailable", "late writer", 1))

    with pytest.raises(ConcurrentUpdateError):
        await order_store.save_details(stale)
    assert (await order_store.get(order.id)).attempt_errors == []


async def test_writes_to_an_unknown_order_raise_not_found(order_store: OrderStore) -> None:
    ghost = new_order()
    ghost.start()
    with pytest.raises(OrderNotFoundError):
        await order_store.append(ghost, ghost.apply(payload_for(S.ROUTING), ts_ms=T0 + 1))
    with pytest.raises(OrderNotFoundError):
        await order_store.save_details(ghost)
    assert await events_of(order_store, ghost.id) == []


async def test_get_unknown_order_raises_not_found(order_store: OrderStore) -> None:
    with pytest.raises(OrderNotFoundError):
        await order_store.get(str(uuid.uuid4()))


async def test_idempotency_key_is_unique(order_store: OrderStore) -> None:
    first = await stored(order_store, key="same-key")
    second = new_order(key="same-key")

    with pytest.raises(IdempotencyConflictError):
        await order_store.create(second, second.start())

    with pytest.raises(OrderNotFoundError):
        await order_store.get(second.id)
    assert await events_of(order_store, second.id) == []
    assert await order_store.find_by_idempotency_key("same-key") == first
    assert await order_store.find_by_idempotency_key("other-key") is None
    await stored(order_store)  # orders without a key never conflict
    await stored(order_store)


async def test_duplicate_order_id_is_a_conflict(order_store: OrderStore) -> None:
    order = await stored(order_store)
    twin = new_order(order_id=order.id, key="fresh-key")

    with pytest.raises(ConflictError) as caught:
        await order_store.create(twin, twin.start())
    assert not isinstance(caught.value, IdempotencyConflictError)
    assert await order_store.find_by_idempotency_key("fresh-key") is None


async def test_racing_creates_with_one_key_admit_one(order_store: OrderStore) -> None:
    orders = [new_order(key="race-key") for _ in range(10)]
    results = await asyncio.gather(
        *(order_store.create(o, o.start()) for o in orders), return_exceptions=True
    )

    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, IdempotencyConflictError) for r in results if r is not None)
    winner = orders[results.index(None)]
    assert await order_store.find_by_idempotency_key("race-key") == winner


async def test_racing_appends_admit_exactly_one(order_store: OrderStore) -> None:
    order = await stored(order_store)
    copies = [await order_store.get(order.id) for _ in range(10)]
    events = [
        with_data(c.apply(payload_for(S.ROUTING), ts_ms=T0 + 1), {"n": i})
        for i, c in enumerate(copies)
    ]
    results = await asyncio.gather(
        *(order_store.append(c, e) for c, e in zip(copies, events, strict=True)),
        return_exceptions=True,
    )

    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, ConcurrentUpdateError) for r in results if r is not None)
    winner = results.index(None)
    assert (await events_of(order_store, order.id))[-1] == events[winner]


async def collect_pages(store: OrderStore, status: OrderStatus | None, limit: int) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = await store.list(status=status, limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        ids.extend(o.id for o in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids
        assert len(page.items) == limit
    raise AssertionError("pagination did not end")


async def test_list_pages_newest_first_without_gaps(order_store: OrderStore) -> None:
    created = [await stored(order_store, T0 + i // 3) for i in range(23)]  # ties of 3
    routing = created[::4]
    for order in routing:
        await advance(order_store, order, S.ROUTING)

    def newest_first(orders: list[Order]) -> list[str]:
        return [o.id for o in sorted(orders, key=lambda o: (o.created_ms, o.id), reverse=True)]

    assert await collect_pages(order_store, None, 5) == newest_first(created)
    assert await collect_pages(order_store, S.ROUTING, 2) == newest_first(routing)
    assert await collect_pages(order_store, S.FAILED, 5) == []
    page = await order_store.list(status=S.ROUTING, limit=50, cursor=None)
    assert all(o.status is S.ROUTING and o.seq == 2 for o in page.items)


async def test_list_by_user_label_pages_only_that_users_orders(order_store: OrderStore) -> None:
    labelled: dict[str, list[str]] = {"alice": [], "bob": []}
    for i in range(7):
        order = new_order(T0 + i)
        order.user_id = "alice" if i % 3 else "bob"
        await order_store.create(order, order.start())
        labelled[order.user_id].append(order.id)
    await stored(order_store, T0 + 9)  # no label
    pages, cursor = [], None
    while True:
        page = await order_store.list(status=None, limit=2, cursor=cursor, user_id="alice")
        pages += [o.id for o in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert pages == labelled["alice"][::-1]
    bob = await order_store.list(status=S.PENDING, limit=10, cursor=None, user_id="bob")
    assert [o.id for o in bob.items] == labelled["bob"][::-1]
    assert all(o.user_id == "bob" for o in bob.items)
    nobody = await order_store.list(status=None, limit=10, cursor=None, user_id="carol")
    assert nobody.items == []


async def test_list_by_owner_pages_only_that_accounts_orders(order_store: OrderStore) -> None:
    owned: dict[str, list[str]] = {"acc-a": [], "acc-b": []}
    for i in range(7):
        order = new_order(T0 + i)
        order.account_id = "acc-a" if i % 2 else "acc-b"
        order.user_id = "same-label"  # labels are the client's, owners are the engine's
        await order_store.create(order, order.start())
        owned[order.account_id].append(order.id)
    pages, cursor = [], None
    while True:
        page = await order_store.list(status=None, limit=2, cursor=cursor, account_id="acc-a")
        pages += [o.id for o in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert pages == owned["acc-a"][::-1]
    both = await order_store.list(
        status=S.PENDING, limit=10, cursor=None, user_id="same-label", account_id="acc-b"
    )
    assert [o.id for o in both.items] == owned["acc-b"][::-1]
    assert (await order_store.get(owned["acc-b"][0])).account_id == "acc-b"
    nobody = await order_store.list(status=None, limit=10, cursor=None, account_id="acc-c")
    assert nobody.items == []


async def test_list_ends_without_an_empty_page(order_store: OrderStore) -> None:
    for i in range(6):
        await stored(order_store, T0 + i)
    first = await order_store.list(status=None, limit=3, cursor=None)
    second = await order_store.list(status=None, limit=3, cursor=first.next_cursor)
    assert first.next_cursor is not None
    assert len(second.items) == 3
    assert second.next_cursor is None


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "not base64!",
        b64("not-a-cursor"),
        b64(":id"),
        b64("12:"),
        b64("x1:id"),
        "A" * 400,
    ],
)
async def test_malformed_cursor_is_a_request_error(order_store: OrderStore, cursor: str) -> None:
    with pytest.raises(RequestError) as caught:
        await order_store.list(status=None, limit=10, cursor=cursor)
    assert caught.value.field == "cursor"


async def test_limit_below_one_is_a_request_error(order_store: OrderStore) -> None:
    with pytest.raises(RequestError) as caught:
        await order_store.list(status=None, limit=0, cursor=None)
    assert caught.value.field == "limit"


async def test_unfinished_lists_open_orders_oldest_first(order_store: OrderStore) -> None:
    newest_open = await stored(order_store, T0 + 30)
    confirmed = await stored(order_store, T0 + 5)
    await advance(order_store, confirmed, *TO_SUBMITTED)
    await order_store.append(confirmed, confirmation(confirmed, T0 + 40))
    oldest_open = await stored(order_store, T0 + 1)
    await advance(order_store, oldest_open, S.ROUTING, S.BUILDING, S.SUBMITTED)
    failed = await stored(order_store, T0)
    await order_store.append(failed, failed.fail(OrderError("no_route", "x"), ts_ms=T0 + 2))
    cancelled = await stored(order_store, T0 + 2)
    await advance(order_store, cancelled, S.CANCELLED)
    middle_open = await stored(order_store, T0 + 10)

    expected = [oldest_open.id, middle_open.id, newest_open.id]
    assert await order_store.unfinished() == expected
    assert await order_store.unfinished(limit=2) == expected[:2]


async def test_attempt_errors_and_error_round_trip(order_store: OrderStore) -> None:
    order = await stored(order_store)
    await advance(order_store, order, S.ROUTING)
    first = OrderError("venue_unavailable", "raydium: timeout", attempt=1, ts_ms=T0 + 3)
    order.record_attempt_error(first)
    await order_store.save_details(order)

    got = await order_store.get(order.id)
    assert got.attempt_errors == [first]
    assert got.seq == 2
    assert len(await events_of(order_store, order.id)) == 2

    second = OrderError("slippage_exceeded", "out 9.1 < min 9.2", attempt=2, ts_ms=T0 + 8)
    order.record_attempt_error(second)
    failed = order.fail(second, ts_ms=T0 + 9)
    await order_store.append(order, failed)
    got = await order_store.get(order.id)
    assert (got.status, got.error, got.attempt_errors) == (S.FAILED, second, [first, second])
    assert (await events_of(order_store, order.id, after=2)) == [failed]


async def test_event_data_round_trips(order_store: OrderStore) -> None:
    order = await stored(order_store)
    data = {
        "dex": "meteora",
        "reason": "meteora returns 151.2 vs raydium 150.9 (+19.88 bps) — ünïcode ✓",
        "quotes": [{"venue": "raydium", "price": "100.5", "amountOut": "150.9"}],
        "unavailable": {},
        "nested": {"deep": {"list": ["a", "b"], "flag": True, "n": 3, "none": None}},
    }
    event = with_data(order.apply(payload_for(S.ROUTING), ts_ms=T0 + 1, attempt=1), data)
    await order_store.append(order, event)
    assert (await events_of(order_store, order.id, after=1)) == [event]


async def test_many_concurrent_orders_all_land(order_store: OrderStore) -> None:
    async def run(i: int) -> Order:
        order = await stored(order_store, T0 + i)
        await advance(order_store, order, *TO_SUBMITTED)
        await order_store.append(order, confirmation(order, T0 + i + 5))
        return order

    orders = await asyncio.gather(*(run(i) for i in range(100)))

    for order in orders:
        assert await order_store.get(order.id) == order
        assert [e.seq for e in await events_of(order_store, order.id)] == [1, 2, 3, 4, 5]
    assert await order_store.unfinished() == []
    assert len(await collect_pages(order_store, S.CONFIRMED, 30)) == 100


async def test_ping_then_closed_store_is_unavailable(order_store: OrderStore) -> None:
    order = await stored(order_store)
    await order_store.ping()
    await order_store.close()

    with pytest.raises(DependencyUnavailableError):
        await order_store.get(order.id)
    with pytest.raises(DependencyUnavailableError):
        await advance(order_store, order, S.ROUTING)
    with pytest.raises(DependencyUnavailableError):
        await order_store.ping()


async def test_discard_removes_an_order_that_never_started(order_store: OrderStore) -> None:
    order = await stored(order_store, key="undo-me")
    assert await order_store.discard(order.id) is True
    with pytest.raises(OrderNotFoundError):
        await order_store.get(order.id)
    assert await order_store.events(order.id) == []
    assert await order_store.find_by_idempotency_key("undo-me") is None
    again = await stored(order_store, key="undo-me")  # the key is free again
    assert (await order_store.get(again.id)).idempotency_key == "undo-me"


async def test_discard_keeps_an_order_that_moved_on(order_store: OrderStore) -> None:
    order = await stored(order_store)
    await advance(order_store, order, S.ROUTING)
    assert await order_store.discard(order.id) is False
    assert (await order_store.get(order.id)).status is S.ROUTING
    assert len(await order_store.events(order.id)) == 2
    assert await order_store.discard(str(uuid.uuid4())) is False


async def limit_order(
    store: OrderStore, created_ms: int, token_in: str = "SOL", token_out: str = "USDC"
) -> Order:
    order = new_order(created_ms)
    order.type, order.token_in, order.token_out = OrderType.LIMIT, token_in, token_out
    order.limit_price, order.expires_ms = Decimal("151.123456789"), created_ms + 60_000
    await store.create(order, order.start())
    return order


async def test_waiting_orders_page_by_created_time_then_id(order_store: OrderStore) -> None:
    same_ms = [await limit_order(order_store, T0) for _ in range(3)]
    later = await limit_order(order_store, T0 + 1)
    for order in [*same_ms, later]:
        await advance(order_store, order, S.WAITING)
    pages: list[list[str]] = []
    after: tuple[int, str] | None = None
    while page := await order_store.waiting("SOL", "USDC", limit=2, after=after):
        pages.append([o.id for o in page])
        after = (page[-1].created_ms, page[-1].id)
    assert pages == [sorted(o.id for o in same_ms)[:2], [max(o.id for o in same_ms), later.id]]


async def test_limit_fields_round_trip(order_store: OrderStore) -> None:
    order = await limit_order(order_store, T0)
    await advance(order_store, order, S.WAITING)
    order.best_price, order.checked_ms = Decimal("150.000000000001"), T0 + 7
    await order_store.save_details(order)
    got = await order_store.get(order.id)
    assert got == order
    assert (got.type, got.limit_price, got.expires_ms) == (
        OrderType.LIMIT,
        Decimal("151.123456789"),
        T0 + 60_000,
    )
    assert (got.best_price, got.checked_ms) == (Decimal("150.000000000001"), T0 + 7)


async def test_waiting_orders_are_found_per_pair_oldest_first(order_store: OrderStore) -> None:
    late = await limit_order(order_store, T0 + 9)
    early = await limit_order(order_store, T0 + 1)
    other_pair = await limit_order(order_store, T0 + 2, "USDC", "SOL")
    still_pending = await limit_order(order_store, T0 + 3)
    expired = await limit_order(order_store, T0 + 4)
    for order in (late, early, other_pair, expired):
        await advance(order_store, order, S.WAITING)
    await advance(order_store, expired, S.EXPIRED)
    market = await stored(order_store, T0 + 5)

    assert [o.id for o in await order_store.waiting("SOL", "USDC")] == [early.id, late.id]
    assert [o.id for o in await order_store.waiting("SOL", "USDC", limit=1)] == [early.id]
    assert [o.id for o in await order_store.waiting("USDC", "SOL")] == [other_pair.id]
    assert await order_store.waiting("SOL", "BONK") == []
    # pages: keyset on (created_ms, id), after the last order of the previous page
    assert [o.id for o in await order_store.waiting("SOL", "USDC", after=(T0 + 1, early.id))] == [
        late.id
    ]
    assert await order_store.waiting("SOL", "USDC", after=(T0 + 9, late.id)) == []
    assert await order_store.waiting_pairs() == [("SOL", "USDC"), ("USDC", "SOL")]
    # the recovery sweep queues what can run; waiting orders are watched per pair instead
    assert await order_store.unfinished() == [still_pending.id, market.id]


async def test_count_open_counts_an_accounts_orders_not_yet_final(order_store: OrderStore) -> None:
    async def owned(owner: str | None, created_ms: int, *, waits: bool = False) -> Order:
        order = new_order(created_ms)
        if waits:
            order.type, order.limit_price = OrderType.LIMIT, Decimal("151")
            order.expires_ms = created_ms + 60_000
        order.account_id = owner
        await order_store.create(order, order.start())
        return order

    assert await order_store.count_open("acc-a") == 0
    pending = await owned("acc-a", T0)
    running = await owned("acc-a", T0 + 1)
    await advance(order_store, running, *TO_SUBMITTED)
    waiting = await owned("acc-a", T0 + 2, waits=True)
    await advance(order_store, waiting, S.WAITING)
    confirmed = await owned("acc-a", T0 + 3)
    await advance(order_store, confirmed, *TO_SUBMITTED)
    await order_store.append(confirmed, confirmation(confirmed, T0 + 9))
    failed = await owned("acc-a", T0 + 4)
    await order_store.append(failed, failed.fail(OrderError("no_route", "x"), ts_ms=T0 + 5))
    await owned("acc-b", T0 + 5)
    await owned(None, T0 + 6)  # no owner (made before accounts): nobody's
    assert [await order_store.count_open(a) for a in ("acc-a", "acc-b", "acc-c")] == [3, 1, 0]

    await advance(order_store, waiting, S.CANCELLED)
    await order_store.append(running, confirmation(running, T0 + 10))
    assert await order_store.discard(pending.id) is True  # an undone create frees its place
    assert await order_store.count_open("acc-a") == 0
    assert await order_store.count_open("acc-b") == 1


def accounts_beside(store: OrderStore) -> AccountStore:
    """The account store on the same database as `store` (its accounts' wallets)."""
    if isinstance(store, InMemoryOrderStore):
        assert store.accounts is not None
        return store.accounts
    assert isinstance(store, SqlOrderStore)
    return SqlAccountStore(store.engine)  # not closed: it shares the order store's engine


async def test_a_create_records_who_pays_from_the_orders_account(order_store: OrderStore) -> None:
    accounts = accounts_beside(order_store)
    public_key = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
    rich = Account(str(uuid.uuid4()), "with-wallet", T0, wallet=SealedWallet(public_key, b"x"))
    poor = Account(str(uuid.uuid4()), "without-wallet", T0)
    for account in (rich, poor):
        await accounts.create_account(account)
    made = []
    for owner in (rich.id, poor.id, None, "no-such-account"):
        order = new_order()
        order.account_id = owner
        await order_store.create(order, order.start())
        made.append(order)
    expected = [public_key, ENGINE_WALLET, ENGINE_WALLET, ENGINE_WALLET]
    assert [o.wallet for o in made] == expected  # answered by the create itself
    assert [(await order_store.get(o.id)).wallet for o in made] == expected
    later = new_order()  # a wallet made after an order does not change who pays for it
    later.account_id = poor.id
    await order_store.create(later, later.start())
    await accounts.set_wallet(poor.id, SealedWallet(public_key[::-1], b"y"))
    assert (await order_store.get(later.id)).wallet == ENGINE_WALLET
