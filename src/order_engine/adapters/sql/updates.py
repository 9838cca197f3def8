"""The optimistic-lock UPDATE of orders: each row changes only if it is still at the seq the
caller read. Many rows in one executemany where the dialect can say which rows matched.
(PostgreSQL's group commit does not come here: `pg_batches.py` writes its batches.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from order_engine.adapters.sql.tables import order_events, orders

# SET columns come from the parameter keys; the WHERE clause is the optimistic lock.
UPDATE_ORDER = update(orders).where(
    orders.c.id == bindparam("b_id"), orders.c.seq == bindparam("b_expected_seq")
)
INSERT_EVENT = insert(order_events)


class StaleWriteError(Exception):
    """An update matched no row: the order moved on (or does not exist)."""


def update_orders(
    conn: Connection, params: list[dict[str, Any]], events: Sequence[dict[str, Any]] = ()
) -> None:
    """Apply every update in `params` (distinct order ids) and insert `events` (rows of
    `order_events`), or raise `StaleWriteError` (the caller's transaction then rolls back
    both)."""
    if len(params) == 1:
        if conn.execute(UPDATE_ORDER, params[0]).rowcount != 1:
            raise StaleWriteError
    elif conn.dialect.supports_sane_multi_rowcount:
        if conn.execute(UPDATE_ORDER, params).rowcount != len(params):
            raise StaleWriteError
    else:  # executemany without per-row counts: one statement per row
        for one in params:
            if conn.execute(UPDATE_ORDER, one).rowcount != 1:
                raise StaleWriteError
    if events:
        conn.execute(INSERT_EVENT, list(events))
