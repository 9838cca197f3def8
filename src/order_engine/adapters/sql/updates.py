"""The optimistic-lock UPDATE of orders: each row changes only if it is still at the seq the
caller read. Many rows in one statement where the dialect can say which rows matched."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect, Update, bindparam, func, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeDecorator, TypeEngine

from order_engine.adapters.sql.tables import orders

# SET columns come from the parameter keys; the WHERE clause is the optimistic lock.
UPDATE_ORDER = update(orders).where(
    orders.c.id == bindparam("b_id"), orders.c.seq == bindparam("b_expected_seq")
)
_LOCK_KEYS = ("b_id", "b_expected_seq")


class StaleWriteError(Exception):
    """An update matched no row: the order moved on (or does not exist)."""


def update_orders(conn: Connection, params: list[dict[str, Any]]) -> None:
    """Apply every update in `params` (distinct order ids) or raise `StaleWriteError`."""
    if len(params) == 1:
        if conn.execute(UPDATE_ORDER, params[0]).rowcount != 1:
            raise StaleWriteError
    elif conn.dialect.name == "postgresql":
        _update_by_arrays(conn, params)
    elif conn.dialect.supports_sane_multi_rowcount:
        if conn.execute(UPDATE_ORDER, params).rowcount != len(params):
            raise StaleWriteError
    else:  # executemany without per-row counts: one statement per row
        for one in params:
            if conn.execute(UPDATE_ORDER, one).rowcount != 1:
                raise StaleWriteError


def _update_by_arrays(conn: Connection, params: list[dict[str, Any]]) -> None:
    """PostgreSQL: one `UPDATE ... FROM unnest(arrays) RETURNING id` for the whole batch
    (asyncpg's executemany reports no row counts; one statement per row cost a round trip
    each). ARRAY does not run its items' type decorators, so values are encoded here."""
    dialect = conn.dialect
    columns = tuple(k for k in params[0] if k not in _LOCK_KEYS)
    arrays: dict[str, list[Any]] = {}
    for key in (*_LOCK_KEYS, *columns):
        column_type = _column_type(key)
        values = [p[key] for p in params]
        if isinstance(column_type, TypeDecorator):
            values = [column_type.process_bind_param(v, dialect) for v in values]
        arrays[f"u_{key}"] = values
    matched = conn.execute(_array_update(columns, dialect), arrays).all()
    if len(matched) != len(params):
        raise StaleWriteError


def _column_type(key: str) -> TypeEngine[Any]:
    return orders.c[{"b_id": "id", "b_expected_seq": "seq"}.get(key, key)].type


def _array_update(columns: tuple[str, ...], dialect: Dialect) -> Update:
    statement = _ARRAY_UPDATES.get(columns)
    if statement is None:
        statement = _ARRAY_UPDATES[columns] = _build_array_update(columns, dialect)
    return statement


_ARRAY_UPDATES: dict[tuple[str, ...], Update] = {}


def _build_array_update(columns: tuple[str, ...], dialect: Dialect) -> Update:
    keys = (*_LOCK_KEYS, *columns)
    rows = (
        func.unnest(*(bindparam(f"u_{k}", type_=ARRAY(_storage_type(k, dialect))) for k in keys))
        .table_valued(*keys)
        .render_derived(name="batch")
    )
    return (
        update(orders)
        .values({c: rows.c[c] for c in columns})
        .where(orders.c.id == rows.c.b_id, orders.c.seq == rows.c.b_expected_seq)
        .returning(orders.c.id)
    )


def _storage_type(key: str, dialect: Dialect) -> TypeEngine[Any]:
    """The type the database stores `key` as (a decorator's impl on this dialect)."""
    column_type = _column_type(key)
    if isinstance(column_type, TypeDecorator):
        return column_type.load_dialect_impl(dialect)
    return column_type
