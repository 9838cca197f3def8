"""The optimistic-lock UPDATE of orders: each row changes only if it is still at the seq the
caller read. Many rows in one statement where the dialect can say which rows matched; on
PostgreSQL the new events of those orders go in by the same statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Update, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeDecorator, TypeEngine

from order_engine.adapters.sql.tables import order_events, orders

# SET columns come from the parameter keys; the WHERE clause is the optimistic lock.
UPDATE_ORDER = update(orders).where(
    orders.c.id == bindparam("b_id"), orders.c.seq == bindparam("b_expected_seq")
)
INSERT_EVENT = insert(order_events)
_LOCK_KEYS = ("b_id", "b_expected_seq")
_EVENT_KEYS = tuple(c.name for c in order_events.c)


class StaleWriteError(Exception):
    """An update matched no row: the order moved on (or does not exist)."""


def update_orders(
    conn: Connection, params: list[dict[str, Any]], events: Sequence[dict[str, Any]] = ()
) -> None:
    """Apply every update in `params` (distinct order ids) and insert `events` (rows of
    `order_events`), or raise `StaleWriteError` (the caller's transaction then rolls back
    both)."""
    if conn.dialect.name == "postgresql":
        _update_by_arrays(conn, params, events)
        return
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


def _update_by_arrays(
    conn: Connection, params: list[dict[str, Any]], events: Sequence[dict[str, Any]]
) -> None:
    """PostgreSQL: one `UPDATE ... FROM unnest(arrays) RETURNING id` for the whole batch,
    with the events inserted by a CTE of the same statement (asyncpg's executemany reports
    no row counts, and every statement costs a round trip and ~0.35 ms of client CPU).
    ARRAY does not run its items' type decorators, so values are encoded here."""
    dialect = conn.dialect
    columns = tuple(k for k in params[0] if k not in _LOCK_KEYS)
    arrays: dict[str, list[Any]] = {}
    for key in (*_LOCK_KEYS, *columns):
        arrays[f"u_{key}"] = _encoded(_column_type(key), [p[key] for p in params], dialect)
    if events:
        for key in _EVENT_KEYS:
            column_type = order_events.c[key].type
            arrays[f"e_{key}"] = _encoded(column_type, [e[key] for e in events], dialect)
    matched = conn.execute(_array_update(columns, bool(events), dialect), arrays).all()
    if len(matched) != len(params):
        raise StaleWriteError


def _encoded(column_type: TypeEngine[Any], values: list[Any], dialect: Dialect) -> list[Any]:
    if isinstance(column_type, TypeDecorator):
        return [column_type.process_bind_param(v, dialect) for v in values]
    return values


def _column_type(key: str) -> TypeEngine[Any]:
    return orders.c[{"b_id": "id", "b_expected_seq": "seq"}.get(key, key)].type


def _array_update(columns: tuple[str, ...], with_events: bool, dialect: Dialect) -> Update:
    statement = _ARRAY_UPDATES.get((columns, with_events))
    if statement is None:
        statement = _build_array_update(columns, with_events, dialect)
        _ARRAY_UPDATES[columns, with_events] = statement
    return statement


_ARRAY_UPDATES: dict[tuple[tuple[str, ...], bool], Update] = {}


def _build_array_update(columns: tuple[str, ...], with_events: bool, dialect: Dialect) -> Update:
    keys = (*_LOCK_KEYS, *columns)
    rows = (
        func.unnest(*(bindparam(f"u_{k}", type_=ARRAY(_storage_type(k, dialect))) for k in keys))
        .table_valued(*keys)
        .render_derived(name="batch")
    )
    statement = (
        update(orders)
        .values({c: rows.c[c] for c in columns})
        .where(orders.c.id == rows.c.b_id, orders.c.seq == rows.c.b_expected_seq)
        .returning(orders.c.id)
    )
    if not with_events:
        return statement
    new = (
        func.unnest(
            *(
                bindparam(f"e_{k}", type_=ARRAY(_impl(order_events.c[k].type, dialect)))
                for k in _EVENT_KEYS
            )
        )
        .table_valued(*_EVENT_KEYS)
        .render_derived(name="new_events")
    )
    adding = insert(order_events).from_select(_EVENT_KEYS, select(*new.c))
    return statement.add_cte(adding.cte("added_events"))


def _storage_type(key: str, dialect: Dialect) -> TypeEngine[Any]:
    """The type the database stores `key` as (a decorator's impl on this dialect)."""
    return _impl(_column_type(key), dialect)


def _impl(column_type: TypeEngine[Any], dialect: Dialect) -> TypeEngine[Any]:
    if isinstance(column_type, TypeDecorator):
        return column_type.load_dialect_impl(dialect)
    return column_type
