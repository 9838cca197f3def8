"""Change numbers: every write of an order row stamps it (`orders.change_no`) so a reader
can ask "which orders were written since I last asked" at the cost of what changed (the
open streams' watchdog, `StreamWatch`). A reader's `horizon` is a cursor: every write
whose stamp is below it had committed when the horizon was read, so the next question,
`change_no >= horizon`, misses nothing (it may see a few writes again).

- PostgreSQL: the stamp is the writing transaction's id; the horizon is the reading
  snapshot's xmin (every transaction below it has ended). Writers share no counter, so
  they never wait on one another.
- SQLite (one writer at a time): each writing transaction first ticks `change_clock`
  (`tick_clock`) and stamps its rows with the new value; the horizon is the clock + 1.
  A clock, not max(change_no) + 1: a deleted row would hand its number out again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Connection, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement

CLOCK_TABLE = "change_clock"
TICK = text(f"UPDATE {CLOCK_TABLE} SET n = n + 1 WHERE id = 1")


class ChangeStamp(ColumnElement[int]):
    """The change number a write gives the order rows it writes (a column default)."""

    type = BigInteger()
    inherit_cache = True
    _traverse_internals: list[Any] = []  # no state: one cache key (compiled once)


class ChangeHorizon(ColumnElement[int]):
    """Read beside the changed rows: the cursor for the next read (see the module)."""

    type = BigInteger()
    inherit_cache = True
    _traverse_internals: list[Any] = []  # no state: one cache key (compiled once)


@compiles(ChangeStamp, "postgresql")
def _stamp_pg(element: ChangeStamp, compiler: SQLCompiler, **kw: Any) -> str:
    return "pg_current_xact_id()::text::bigint"


@compiles(ChangeStamp)
def _stamp(element: ChangeStamp, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(SELECT n FROM {CLOCK_TABLE} WHERE id = 1)"


@compiles(ChangeHorizon, "postgresql")
def _horizon_pg(element: ChangeHorizon, compiler: SQLCompiler, **kw: Any) -> str:
    return "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


@compiles(ChangeHorizon)
def _horizon(element: ChangeHorizon, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(SELECT n + 1 FROM {CLOCK_TABLE} WHERE id = 1)"


def tick_clock(conn: Connection) -> None:
    """Start a writing transaction's stamps (SQLite: the clock moves on; PostgreSQL stamps
    with the transaction's own id and needs nothing)."""
    if conn.dialect.name != "postgresql":
        conn.execute(TICK)
