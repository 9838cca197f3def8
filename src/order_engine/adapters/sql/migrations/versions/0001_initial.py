"""Orders and their event logs.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exact decimals: TEXT on SQLite (no decimal type there), NUMERIC on PostgreSQL.
MONEY = sa.Text().with_variant(sa.Numeric(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("token_in", sa.String(), nullable=False),
        sa.Column("token_out", sa.String(), nullable=False),
        sa.Column("amount_in", MONEY, nullable=False),
        sa.Column("slippage_bps", sa.Integer(), nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("request_fingerprint", sa.String(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("dex", sa.String(32), nullable=True),
        sa.Column("tx_hash", sa.String(), nullable=True),
        sa.Column("executed_price", MONEY, nullable=True),
        sa.Column("amount_out", MONEY, nullable=True),
        sa.Column("min_amount_out", MONEY, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt_errors", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("idempotency_key", name="uq_orders_idempotency_key"),
    )
    op.create_index("ix_orders_status_created", "orders", ["status", "created_ms", "id"])
    op.create_index("ix_orders_created", "orders", ["created_ms", "id"])
    op.create_table(
        "order_events",
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"
        ),
        sa.PrimaryKeyConstraint("order_id", "seq", name="pk_order_events"),
    )


def downgrade() -> None:
    op.drop_table("order_events")
    op.drop_index("ix_orders_created", table_name="orders")
    op.drop_index("ix_orders_status_created", table_name="orders")
    op.drop_table("orders")
