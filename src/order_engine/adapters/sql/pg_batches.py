"""PostgreSQL: a group commit's writes as one statement each, every row's values passed as
arrays and spread by `unnest` (asyncpg's executemany reports no row counts, and every
statement costs a round trip and client CPU). Each statement answers with the ids it wrote.

- `create_statement`: new orders and their first events, by a CTE (the foreign key holds:
  PostgreSQL checks it at the end of the statement); each order's `wallet` is read from
  its account by the same statement and answered with its id (`payer`).
- `update_statement`: the optimistic-lock `UPDATE ... FROM unnest(...)` of many orders, and
  the new events of the orders it matched, by a CTE; an order whose seq moved on is not
  updated and gets no event, and is missing from the answer.

ARRAY does not run its items' type decorators, so values are encoded here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Dialect, Select, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import TableValuedAlias
from sqlalchemy.sql.selectable import CTE
from sqlalchemy.types import TypeDecorator, TypeEngine

from order_engine.adapters.sql.payer import recorded_wallet
from order_engine.adapters.sql.tables import order_events, orders

LOCK_KEYS = ("b_id", "b_expected_seq")  # the update's WHERE: id and the seq it expects
EVENT_KEYS = tuple(c.name for c in order_events.c)
# every column a caller writes (`change_no` is the statement's own: a column default;
# a new order's `wallet` too: the create reads it from the order's account, `payer`)
ORDER_KEYS = tuple(c.name for c in orders.c if c.name not in ("change_no", "wallet"))

Statement = tuple[Select[Any], dict[str, list[Any]]]


def update_statement(
    params: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]], dialect: Dialect
) -> Statement:
    """`params`: each order's new column values plus `b_id` and `b_expected_seq`."""
    columns = tuple(k for k in params[0] if k not in LOCK_KEYS)
    arrays = {
        f"u_{key}": encoded(_order_column_type(key), [p[key] for p in params], dialect)
        for key in (*LOCK_KEYS, *columns)
    }
    arrays.update(_event_arrays(events, dialect))
    return _cached(("update", columns, bool(events)), dialect), arrays


def create_statement(
    rows: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]], dialect: Dialect
) -> Statement:
    """`rows`: full order rows."""
    arrays = {
        f"o_{key}": encoded(orders.c[key].type, [r[key] for r in rows], dialect)
        for key in ORDER_KEYS
    }
    arrays.update(_event_arrays(events, dialect))
    return _cached(("create", (), bool(events)), dialect), arrays


def encoded(column_type: TypeEngine[Any], values: list[Any], dialect: Dialect) -> list[Any]:
    if isinstance(column_type, TypeDecorator):
        return [column_type.process_bind_param(v, dialect) for v in values]
    return values


def _event_arrays(events: Sequence[dict[str, Any]], dialect: Dialect) -> dict[str, list[Any]]:
    if not events:
        return {}
    return {
        f"e_{key}": encoded(order_events.c[key].type, [e[key] for e in events], dialect)
        for key in EVENT_KEYS
    }


_STATEMENTS: dict[tuple[str, tuple[str, ...], bool], Select[Any]] = {}


def _cached(key: tuple[str, tuple[str, ...], bool], dialect: Dialect) -> Select[Any]:
    statement = _STATEMENTS.get(key)
    if statement is None:
        kind, columns, with_events = key
        if kind == "update":
            statement = _build_update(columns, with_events, dialect)
        else:
            statement = _build_create(with_events, dialect)
        _STATEMENTS[key] = statement
    return statement


def _unnest(prefix: str, keys: Sequence[str], types: Sequence[TypeEngine[Any]], name: str) -> Any:
    arrays = (bindparam(f"{prefix}{k}", type_=ARRAY(t)) for k, t in zip(keys, types, strict=True))
    alias: TableValuedAlias = func.unnest(*arrays).table_valued(*keys).render_derived(name=name)
    return alias


def _new_events(dialect: Dialect) -> Any:
    types = [_impl(order_events.c[k].type, dialect) for k in EVENT_KEYS]
    return _unnest("e_", EVENT_KEYS, types, "new_events")


def _build_update(columns: tuple[str, ...], with_events: bool, dialect: Dialect) -> Select[Any]:
    keys = (*LOCK_KEYS, *columns)
    batch = _unnest("u_", keys, [_impl(_order_column_type(k), dialect) for k in keys], "batch")
    updated = (
        update(orders)
        .values({c: batch.c[c] for c in columns})
        .where(orders.c.id == batch.c.b_id, orders.c.seq == batch.c.b_expected_seq)
        .returning(orders.c.id)
        .cte("updated")
    )
    if not with_events:
        return _ids_of(updated)
    new = _new_events(dialect)
    return _ids_of(updated, select(*new.c).where(new.c.order_id.in_(select(updated.c.id))))


def _build_create(with_events: bool, dialect: Dialect) -> Select[Any]:
    rows = _unnest("o_", ORDER_KEYS, [_impl(orders.c[k].type, dialect) for k in ORDER_KEYS], "rows")
    values = select(*rows.c, recorded_wallet(rows.c.account_id))
    created = (
        insert(orders)
        .from_select((*ORDER_KEYS, "wallet"), values)
        .returning(orders.c.id, orders.c.wallet)
        .cte("created")
    )
    new_events = select(*_new_events(dialect).c) if with_events else None
    return _ids_of(created, new_events, created.c.wallet)


def _ids_of(written: CTE, new_events: Select[Any] | None = None, *also: Any) -> Select[Any]:
    """The statement's answer: the ids `written` returned (and `also`: who pays for a new
    order); `new_events` (rows of `order_events`) go in by a CTE of the same statement."""
    answer = select(written.c.id, *also)
    if new_events is None:
        return answer
    return answer.add_cte(insert(order_events).from_select(EVENT_KEYS, new_events).cte("added"))


def _order_column_type(key: str) -> TypeEngine[Any]:
    return orders.c[{"b_id": "id", "b_expected_seq": "seq"}.get(key, key)].type


def _impl(column_type: TypeEngine[Any], dialect: Dialect) -> TypeEngine[Any]:
    """The type the database stores a column as (a decorator's impl on this dialect)."""
    if isinstance(column_type, TypeDecorator):
        return column_type.load_dialect_impl(dialect)
    return column_type
