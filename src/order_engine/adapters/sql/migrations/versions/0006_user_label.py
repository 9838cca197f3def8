"""An optional label a client gives its orders (`userId`), listed by it newest first.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("user_id", sa.String(), nullable=True))
    op.create_index("ix_orders_user_created", "orders", ["user_id", "created_ms"])


def downgrade() -> None:
    op.drop_index("ix_orders_user_created", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("user_id")
