"""The account that owns an order, its orders listed newest first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("account_id", sa.String(), nullable=True))
    op.create_index("ix_orders_account_created", "orders", ["account_id", "created_ms"])


def downgrade() -> None:
    op.drop_index("ix_orders_account_created", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("account_id")
