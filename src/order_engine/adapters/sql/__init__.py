"""The SQL `OrderStore` and `AccountStore` (SQLite and PostgreSQL, one code path) and their
migrations."""

from order_engine.adapters.sql.accounts import SqlAccountStore, create_sql_account_store
from order_engine.adapters.sql.engines import create_engine
from order_engine.adapters.sql.schema import (
    UnmigratedDatabaseError,
    ensure_migrated,
    is_at_head,
    migrate,
)
from order_engine.adapters.sql.store import SqlOrderStore, create_sql_store

__all__ = [
    "SqlAccountStore",
    "SqlOrderStore",
    "UnmigratedDatabaseError",
    "create_engine",
    "create_sql_account_store",
    "create_sql_store",
    "ensure_migrated",
    "is_at_head",
    "migrate",
]
