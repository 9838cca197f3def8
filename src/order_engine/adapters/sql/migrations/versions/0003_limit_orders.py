"""Limit orders: the limit price, the expiry, and the best price at the last check.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exact decimals: TEXT on SQLite (no decimal type there), NUMERIC on PostgreSQL.
MONEY = sa.Text().with_variant(sa.Numeric(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("limit_price", MONEY, nullable=True))
        batch.add_column(sa.Column("expires_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("best_price", MONEY, nullable=True))
        batch.add_column(sa.Column("checked_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for column in ("checked_ms", "best_price", "expires_ms", "limit_price"):
            batch.drop_column(column)
