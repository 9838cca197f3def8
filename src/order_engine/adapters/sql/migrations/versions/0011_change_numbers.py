"""Change numbers: every write stamps its order row (`orders.change_no`, indexed), so the
open streams' watchdog reads only the orders written since it last looked, and SQLite's
stamps come from a one-row clock (`change_clock`; PostgreSQL stamps with transaction ids
and leaves it at 0). Rows written before stay NULL: nothing asks for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("change_no", sa.BigInteger(), nullable=True))
    op.create_index("ix_orders_change_no", "orders", ["change_no"])
    clock = op.create_table(
        "change_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_clock")),
    )
    op.bulk_insert(clock, [{"id": 1, "n": 0}])


def downgrade() -> None:
    op.drop_table("change_clock")
    op.drop_index("ix_orders_change_no", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("change_no")
