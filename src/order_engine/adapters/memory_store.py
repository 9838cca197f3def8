"""`InMemoryOrderStore`: the `OrderStore` of tests and demos, with the SQL store's semantics."""

from __future__ import annotations

import builtins
import copy

from order_engine.adapters.cursor import check_limit, decode_cursor, encode_cursor
from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.domain.errors import (
    ConcurrentUpdateError,
    ConflictError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    OrderNotFoundError,
)
from order_engine.domain.orders import NOT_RUNNABLE, Order, OrderEvent, OrderStatus
from order_engine.engine.ports import Changes, Page


class InMemoryOrderStore:
    """Orders and event logs in dicts. Orders are deep-copied in and out, so a caller's
    object never aliases stored state. With `accounts`, a create records who pays for the
    order from its account, as the SQL store's INSERT does; without, it records nothing
    (`Order.wallet` None: the worker asks the account)."""

    def __init__(self, accounts: InMemoryAccountStore | None = None) -> None:
        self.accounts = accounts
        self._orders: dict[str, Order] = {}
        self._events: dict[str, builtins.list[OrderEvent]] = {}
        self._by_key: dict[str, str] = {}
        self._open: dict[str, set[str]] = {}  # owner -> ids of its orders not final
        self._stamps: dict[str, int] = {}  # id -> its last write's change number, oldest first
        self._clock = 0
        self._closed = False

    async def create(self, order: Order, event: OrderEvent) -> None:
        self._check_open()
        if order.id in self._orders:
            raise ConflictError(f"order {order.id} already exists")
        key = order.idempotency_key
        if key is not None and key in self._by_key:
            raise IdempotencyConflictError("idempotency key is already used by another order")
        if self.accounts is not None:
            order.wallet = self.accounts.wallet_of(order.account_id)
        self._orders[order.id] = copy.deepcopy(order)
        self._events[order.id] = [copy.deepcopy(event)]
        if key is not None:
            self._by_key[key] = order.id
        self._track(order)
        self._stamp(order.id)

    async def discard(self, order_id: str) -> bool:
        self._check_open()
        order = self._orders.get(order_id)
        if order is None or order.seq != 1:
            return False
        del self._orders[order_id], self._events[order_id]
        if order.idempotency_key is not None:
            self._by_key.pop(order.idempotency_key, None)
        self._track(order, gone=True)
        self._stamps.pop(order_id, None)
        return True

    async def append(self, order: Order, event: OrderEvent) -> None:
        self._check_open()
        self._check_seq(order.id, event.seq - 1)
        self._orders[order.id] = copy.deepcopy(order)
        self._events[order.id].append(copy.deepcopy(event))
        self._track(order)
        self._stamp(order.id)

    async def save_details(self, order: Order) -> None:
        self._check_open()
        self._check_seq(order.id, order.seq)
        self._orders[order.id] = copy.deepcopy(order)
        self._stamp(order.id)

    async def get(self, order_id: str) -> Order:
        self._check_open()
        stored = self._orders.get(order_id)
        if stored is None:
            raise OrderNotFoundError(f"order {order_id} not found")
        return copy.deepcopy(stored)

    async def find_by_idempotency_key(self, key: str) -> Order | None:
        self._check_open()
        order_id = self._by_key.get(key)
        return None if order_id is None else copy.deepcopy(self._orders[order_id])

    async def list(
        self,
        *,
        status: OrderStatus | None,
        limit: int,
        cursor: str | None,
        user_id: str | None = None,
        account_id: str | None = None,
    ) -> Page:
        self._check_open()
        check_limit(limit)
        after = decode_cursor(cursor) if cursor is not None else None
        rows = sorted(
            (
                o
                for o in self._orders.values()
                if (status is None or o.status is status)
                and (user_id is None or o.user_id == user_id)
                and (account_id is None or o.account_id == account_id)
            ),
            key=lambda o: (o.created_ms, o.id),
            reverse=True,
        )
        if after is not None:
            rows = [o for o in rows if (o.created_ms, o.id) < after]
        page = rows[:limit]
        more = len(rows) > limit
        next_cursor = encode_cursor(page[-1].created_ms, page[-1].id) if more else None
        return Page([copy.deepcopy(o) for o in page], next_cursor)

    async def events(self, order_id: str, after: int = 0) -> builtins.list[OrderEvent]:
        self._check_open()
        return [copy.deepcopy(e) for e in self._events.get(order_id, []) if e.seq > after]

    async def latest_seqs(self, order_ids: builtins.list[str]) -> dict[str, int]:
        self._check_open()
        return {i: self._orders[i].seq for i in order_ids if i in self._orders}

    async def changes(self, cursor: int | None) -> Changes:
        self._check_open()
        latest: dict[str, int] = {}
        if cursor is not None:
            for order_id, stamp in reversed(self._stamps.items()):  # newest first
                if stamp < cursor:
                    break
                latest[order_id] = self._orders[order_id].seq
        return Changes(self._clock + 1, latest)

    def _stamp(self, order_id: str) -> None:
        """Number this write and move the order to the newest end of `_stamps`."""
        self._clock += 1
        self._stamps.pop(order_id, None)
        self._stamps[order_id] = self._clock

    async def count_open(self, account_id: str) -> int:
        self._check_open()
        return len(self._open.get(account_id, ()))

    async def unfinished(self, limit: int = 1000) -> builtins.list[str]:
        self._check_open()
        open_orders = sorted(
            (o for o in self._orders.values() if o.status not in NOT_RUNNABLE),
            key=lambda o: (o.created_ms, o.id),
        )
        return [o.id for o in open_orders[:limit]]

    async def waiting(
        self, token_in: str, token_out: str, limit: int = 1000, after: tuple[int, str] | None = None
    ) -> builtins.list[Order]:
        self._check_open()
        found = sorted(
            (
                o
                for o in self._orders.values()
                if o.status is OrderStatus.WAITING
                and (o.token_in, o.token_out) == (token_in, token_out)
                and (after is None or (o.created_ms, o.id) > after)
            ),
            key=lambda o: (o.created_ms, o.id),
        )
        return [copy.deepcopy(o) for o in found[:limit]]

    async def waiting_pairs(self) -> builtins.list[tuple[str, str]]:
        self._check_open()
        return sorted(
            {
                (o.token_in, o.token_out)
                for o in self._orders.values()
                if o.status is OrderStatus.WAITING
            }
        )

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise DependencyUnavailableError("order store is closed")

    def _track(self, order: Order, *, gone: bool = False) -> None:
        """Keep the owner's set of open orders (an index, as the SQL store's) current."""
        if order.account_id is None:
            return
        ids = self._open.setdefault(order.account_id, set())
        if gone or order.is_terminal:
            ids.discard(order.id)
        else:
            ids.add(order.id)
        if not ids:
            del self._open[order.account_id]

    def _check_seq(self, order_id: str, expected_seq: int) -> None:
        stored = self._orders.get(order_id)
        if stored is None:
            raise OrderNotFoundError(f"order {order_id} not found")
        if stored.seq != expected_seq:
            raise ConcurrentUpdateError(
                f"order {order_id} is at seq {stored.seq}, not {expected_seq}; reload it"
            )
