"""Who pays for a new order, recorded by the create's own INSERT (no round trip of its
own): the public key of its account's wallet as committed at that moment, or
`ENGINE_WALLET` when the account has none or the order has no account. A wallet made just
before the order is never missed, as a cached copy of the account could miss it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, insert, literal, select

from order_engine.adapters.sql.tables import accounts, orders
from order_engine.domain.orders import ENGINE_WALLET

PAYER_OF = "payer_of"  # the account id the recorded wallet is read for (SQLite's INSERT)


def recorded_wallet(account_id: Any) -> ColumnElement[Any]:
    """The wallet column's value for an order of `account_id` (a column or a parameter)."""
    wallet = select(accounts.c.wallet_public_key).where(accounts.c.id == account_id)
    return func.coalesce(wallet.scalar_subquery(), literal(ENGINE_WALLET))


# every dialect but PostgreSQL (whose creates are one statement, `pg_batches`): the row's
# own `wallet` is left out, the account id comes again as `payer_of`
INSERT_RECORDING = insert(orders).values(wallet=recorded_wallet(bindparam(PAYER_OF)))
RECORDED = select(orders.c.id, orders.c.wallet).where(
    orders.c.id.in_(bindparam("ids", expanding=True))
)


def recording_row(row: dict[str, Any]) -> dict[str, Any]:
    """An order row for `INSERT_RECORDING`."""
    params = {k: v for k, v in row.items() if k != "wallet"}
    params[PAYER_OF] = row["account_id"]
    return params
