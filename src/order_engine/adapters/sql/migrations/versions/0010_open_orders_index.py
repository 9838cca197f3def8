"""An index on each order's owner and status: an account's open orders are counted from it
(the per-account limit on open orders) without reading the account's history.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_account_status", "orders", ["account_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_orders_account_status", table_name="orders")
