"""The schema as SQLAlchemy Core tables, and the portable column types it uses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from order_engine.adapters.sql.changes import CLOCK_TABLE, ChangeStamp


class Money(TypeDecorator[Decimal]):
    """Exact decimals: TEXT on SQLite (which has no decimal type), unconstrained NUMERIC on
    PostgreSQL (keeps the scale it was given). Always reads back as `Decimal`."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(value)


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    """JSON text with Decimals written as strings (never floats)."""
    return orjson.dumps(value, default=_json_default).decode()


class JsonText(TypeDecorator[Any]):
    """A JSON document kept in a TEXT column (portable; SQL NULL for None)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else orjson.loads(value)


metadata = MetaData(
    naming_convention={
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("token_in", String(), nullable=False),
    Column("token_out", String(), nullable=False),
    Column("amount_in", Money(), nullable=False),
    Column("slippage_bps", Integer, nullable=False),
    Column("client_order_id", String()),
    Column("user_id", String()),  # a client's own label (filterable)
    Column("account_id", String()),  # the owner (None: made before accounts)
    Column("idempotency_key", String(), unique=True),
    Column("request_fingerprint", String()),
    Column("status", String(16), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("dex", String(32)),
    Column("tx_hash", String()),
    Column("executed_price", Money()),
    Column("amount_out", Money()),
    Column("min_amount_out", Money()),
    Column("error", JsonText()),
    Column("attempt_errors", JsonText(), nullable=False),
    Column("legs", JsonText()),  # the route's transactions (migration 0002)
    Column("limit_price", Money()),  # limit orders (migration 0003)
    Column("expires_ms", BigInteger),
    Column("best_price", Money()),
    Column("checked_ms", BigInteger),
    Column("venue", String(32)),  # sniper orders (migration 0004)
    Column("max_price", Money()),
    Column("max_price_impact_bps", Integer),  # the order's own guard (migration 0005)
    # who pays: recorded by the create from the account (migration 0012; `Order.wallet`)
    Column("wallet", String(44)),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    # every write stamps it (migration 0011; see changes.py): never set by a caller
    Column("change_no", BigInteger, default=ChangeStamp(), onupdate=ChangeStamp()),
    Index("ix_orders_status_created", "status", "created_ms", "id"),
    Index("ix_orders_created", "created_ms", "id"),
    Index("ix_orders_user_created", "user_id", "created_ms"),
    Index("ix_orders_account_created", "account_id", "created_ms"),
    Index("ix_orders_account_status", "account_id", "status"),  # open orders per owner (0010)
    Index("ix_orders_change_no", "change_no"),  # what changed since a cursor (0011)
)

change_clock = Table(  # migration 0011: SQLite's change numbers (one row; see changes.py)
    CLOCK_TABLE,
    metadata,
    Column("id", Integer, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

order_events = Table(
    "order_events",
    metadata,
    Column("order_id", String(36), ForeignKey("orders.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("data", JsonText(), nullable=False),
)

accounts = Table(  # migration 0007
    "accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("admin", Boolean, nullable=False),
    Column("max_open_orders", Integer),  # limit overrides (NULL: the settings' default)
    Column("orders_per_minute", Integer),
    Column("max_order_size", Money()),
    Column("wallet_public_key", String(44)),
    Column("wallet_sealed", LargeBinary),  # the vault's ciphertext (nonce and tag inside)
    Column("created_ms", BigInteger, nullable=False),
)

api_keys = Table(  # migration 0007: a key's secret is never stored, only its digest
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("scope", String(8), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger),
    Column("revoked_ms", BigInteger),
    Index("ix_api_keys_account", "account_id", "created_ms"),
)


engine_secrets = Table(  # migration 0009: random secrets every process of a deployment shares
    "engine_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
