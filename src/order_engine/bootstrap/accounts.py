"""Accounts in the composition root: the `AccountAdmin` of the `accounts` and `keys`
commands, on the settings' database and wallet vault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from order_engine.adapters.clock import SystemClock
from order_engine.bootstrap.factories import check_urls, make_account_store, make_wallet_vault
from order_engine.bootstrap.wallets import with_master_key
from order_engine.engine.accounts import AccountAdmin
from order_engine.settings import Settings


@asynccontextmanager
async def account_admin(settings: Settings) -> AsyncIterator[AccountAdmin]:
    """An `AccountAdmin` for the settings' database: SQLite is migrated first, PostgreSQL
    must be already (`order-engine migrate`; else `ConfigurationError`). New accounts get
    a wallet sealed with `WALLET_MASTER_KEY` (on the embedded database, unset: the key
    file `serve` uses)."""
    check_urls(settings, "accounts")
    vault = make_wallet_vault(with_master_key(settings, "accounts"))
    store = await make_account_store(settings, auto_migrate=False)
    try:
        yield AccountAdmin(store, SystemClock(), vault)
    finally:
        await store.close()
