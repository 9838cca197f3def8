"""The SQL `OrderStore` (SQLite and PostgreSQL, one code path) and its migrations."""

from order_engine.adapters.sql.schema import is_at_head, migrate
from order_engine.adapters.sql.store import SqlOrderStore, create_engine, create_sql_store

__all__ = ["SqlOrderStore", "create_engine", "create_sql_store", "is_at_head", "migrate"]
