"""Who pays for an order: `orders.wallet`, recorded by the create's own INSERT from the
order's account (its wallet's public key, or `engine` when it has none or the order has no
account), so the worker does not read the account per attempt. Rows written before stay
NULL: not recorded, the worker asks the account as it did.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("wallet", sa.String(44), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("wallet")
