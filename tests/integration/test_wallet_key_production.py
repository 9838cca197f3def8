"""Production processes and the wallets' master key: `order-engine api` and `worker` on
PostgreSQL and Redis refuse to start, in one line, when accounts have wallets and
`WALLET_MASTER_KEY` is unset or another key; with the key the accounts were made with,
they start."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.sql import create_sql_account_store
from order_engine.adapters.wallet_vault import AesGcmWalletVault
from order_engine.bootstrap import ConfigurationError, migrate_database, preflight
from order_engine.engine.accounts import AccountAdmin
from order_engine.settings import Settings
from tests.pgdb import fresh_database
from tests.services import require_redis_url


async def test_api_and_worker_need_the_key_the_wallets_were_sealed_with() -> None:
    redis_url = require_redis_url()
    key = os.urandom(32)
    async with fresh_database("oe_wallet_key") as database_url:
        base: dict[str, Any] = {
            "_env_file": None, "database_url": database_url, "redis_url": redis_url,
            "venues": "sim", "redis_prefix": f"oe-wk-{os.getpid()}",
        }  # fmt: skip
        await migrate_database(Settings(**base))
        store = await create_sql_account_store(database_url)
        try:
            await AccountAdmin(store, SystemClock(), AesGcmWalletVault(key)).create_account("ann")
        finally:
            await store.close()
        for command in ("api", "worker"):
            with pytest.raises(ConfigurationError, match=r"\(e\.g\. ann\).*WALLET_MASTER_KEY"):
                await preflight(Settings(**base), command)
        other = base64.b64encode(os.urandom(32)).decode()
        with pytest.raises(ConfigurationError, match="sealed with another WALLET_MASTER_KEY"):
            await preflight(Settings(**base, wallet_master_key=other), "worker")
        right = base64.b64encode(key).decode()
        await preflight(Settings(**base, wallet_master_key=right), "api")
