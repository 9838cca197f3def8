"""Sniper orders: the venue whose pool they wait for and the most they pay per token.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exact decimals: TEXT on SQLite (no decimal type there), NUMERIC on PostgreSQL.
MONEY = sa.Text().with_variant(sa.Numeric(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("venue", sa.String(32), nullable=True))
        batch.add_column(sa.Column("max_price", MONEY, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("max_price")
        batch.drop_column("venue")
