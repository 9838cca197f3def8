"""Accounts (limit overrides, a sealed wallet) and their API keys (digests only).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exact decimals: TEXT on SQLite (no decimal type there), NUMERIC on PostgreSQL.
MONEY = sa.Text().with_variant(sa.Numeric(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("max_open_orders", sa.Integer(), nullable=True),
        sa.Column("orders_per_minute", sa.Integer(), nullable=True),
        sa.Column("max_order_size", MONEY, nullable=True),
        sa.Column("wallet_public_key", sa.String(44), nullable=True),
        sa.Column("wallet_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("name", name="uq_accounts_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=True),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_api_keys_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_account", "api_keys", ["account_id", "created_ms"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_account", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("accounts")
