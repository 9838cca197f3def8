"""The store's statements, built once: each call only binds parameters (building and
caching a fresh `select()` per call cost more than running it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, and_, bindparam, func, null, or_, select
from sqlalchemy.sql import Select

from order_engine.adapters.sql.changes import ChangeHorizon
from order_engine.adapters.sql.tables import order_events, orders
from order_engine.domain.orders import NOT_RUNNABLE, TERMINAL, OrderStatus

GET_ORDER = select(orders).where(orders.c.id == bindparam("order_id"))

ORDER_BY_KEY = select(orders).where(orders.c.idempotency_key == bindparam("key"))

EVENTS_AFTER = (
    select(order_events)
    .where(
        order_events.c.order_id == bindparam("order_id"), order_events.c.seq > bindparam("after")
    )
    .order_by(order_events.c.seq)
)

# chunks of at most LATEST_SEQS_CHUNK ids: well under every driver's bound-parameter limit
LATEST_SEQS_CHUNK = 500
LATEST_SEQS = select(orders.c.id, orders.c.seq).where(
    orders.c.id.in_(bindparam("ids", expanding=True))
)

HORIZON = select(ChangeHorizon().label("horizon"))
# one statement, so one snapshot: a horizon row (id NULL), and the orders written since
_CHANGED = (
    select(ChangeHorizon().label("horizon"), null().label("id"), null().label("seq"))
    .union_all(
        select(null(), orders.c.id, orders.c.seq).where(
            orders.c.change_no >= bindparam("cursor", type_=BigInteger)
        )
    )
    .subquery("changed")
)
CHANGES = select(_CHANGED.c.horizon, _CHANGED.c.id, _CHANGED.c.seq)

UNFINISHED = (
    select(orders.c.id)
    .where(orders.c.status.not_in(sorted(s.value for s in NOT_RUNNABLE)))
    .order_by(orders.c.created_ms, orders.c.id)
    .limit(bindparam("limit", type_=Integer))
)


def _waiting_query(after: bool) -> Select[Any]:
    """A pair's waiting orders, oldest first; params `token_in`, `token_out`, `limit` and,
    for the next page, `after_ms` and `after_id` (keyset: after that order)."""
    query = select(orders).where(
        orders.c.status == OrderStatus.WAITING.value,
        orders.c.token_in == bindparam("token_in"),
        orders.c.token_out == bindparam("token_out"),
    )
    if after:
        after_ms = bindparam("after_ms", type_=orders.c.created_ms.type)
        query = query.where(
            or_(
                orders.c.created_ms > after_ms,
                and_(orders.c.created_ms == after_ms, orders.c.id > bindparam("after_id")),
            )
        )
    order = (orders.c.created_ms, orders.c.id)
    return query.order_by(*order).limit(bindparam("limit", type_=Integer))


WAITING_FOR_PAIR = {after: _waiting_query(after) for after in (False, True)}

WAITING_PAIRS = (
    select(orders.c.token_in, orders.c.token_out)
    .where(orders.c.status == OrderStatus.WAITING.value)
    .distinct()
    .order_by(orders.c.token_in, orders.c.token_out)
)

COUNT_ORDERS = select(func.count().label("n")).select_from(orders)

OPEN_STATUSES = sorted(s.value for s in OrderStatus if s not in TERMINAL)

# an account's orders not final: read from the index on (account_id, status) alone
COUNT_OPEN = (
    select(func.count().label("n"))
    .select_from(orders)
    .where(orders.c.account_id == bindparam("account_id"), orders.c.status.in_(OPEN_STATUSES))
)

PING = select(1)


def _list_query(
    by_status: bool, after_cursor: bool, by_user: bool, by_account: bool
) -> Select[Any]:
    """Newest first; params `status`, `cursor_ms`, `cursor_id`, `user_id`, `account_id`
    and `limit` as used."""
    query = select(orders).order_by(orders.c.created_ms.desc(), orders.c.id.desc())
    if by_status:
        query = query.where(orders.c.status == bindparam("status"))
    if by_user:
        query = query.where(orders.c.user_id == bindparam("user_id"))
    if by_account:
        query = query.where(orders.c.account_id == bindparam("account_id"))
    if after_cursor:
        cursor_ms = bindparam("cursor_ms", type_=orders.c.created_ms.type)
        query = query.where(
            or_(
                orders.c.created_ms < cursor_ms,
                and_(orders.c.created_ms == cursor_ms, orders.c.id < bindparam("cursor_id")),
            )
        )
    return query.limit(bindparam("limit", type_=Integer))


LIST_ORDERS = {
    (s, c, u, a): _list_query(s, c, u, a)
    for s in (False, True)
    for c in (False, True)
    for u in (False, True)
    for a in (False, True)
}
