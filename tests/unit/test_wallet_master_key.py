"""The master key that seals accounts' wallets: `serve` (and the accounts commands on the
embedded database) make one in the data directory when `WALLET_MASTER_KEY` is unset, mode
0600, reused after; production processes never do, and refuse to start when accounts have
wallets they cannot open (no key, another key)."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest

from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.adapters.wallet_vault import AesGcmWalletVault
from order_engine.bootstrap import ConfigurationError
from order_engine.bootstrap.wallets import MASTER_KEY_FILE, check_wallets_open, with_master_key
from order_engine.engine.accounts import AccountAdmin
from order_engine.settings import Settings
from tests.unit.fakes import FakeClock


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **overrides)  # type: ignore[arg-type]


def test_serve_makes_a_key_file_once_and_never_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = with_master_key(settings(tmp_path), "serve")
    path = tmp_path / "data" / MASTER_KEY_FILE
    key = path.read_text().strip()
    assert path.stat().st_mode & 0o777 == 0o600
    assert first.wallet_master_key_bytes == base64.b64decode(key)
    assert key not in caplog.text and str(path) in caplog.text
    again = with_master_key(settings(tmp_path), "accounts")  # the embedded database: same
    assert again.wallet_master_key_bytes == first.wallet_master_key_bytes
    assert path.read_text().strip() == key


def test_a_set_key_wins_and_production_never_makes_one(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    given = with_master_key(settings(tmp_path, wallet_master_key=key), "serve")
    assert given.wallet_master_key_bytes == base64.b64decode(key)
    for command in ("api", "worker"):
        assert with_master_key(settings(tmp_path), command).wallet_master_key_bytes is None
    postgres = settings(tmp_path, database_url="postgresql+asyncpg://u@localhost/db")
    assert with_master_key(postgres, "accounts").wallet_master_key_bytes is None
    assert not (tmp_path / "data" / MASTER_KEY_FILE).exists()


def test_a_key_file_that_is_no_key_stops_serve(tmp_path: Path) -> None:
    path = tmp_path / "data" / MASTER_KEY_FILE
    path.parent.mkdir()
    path.write_text("not a key at all")
    with pytest.raises(ConfigurationError, match=f"{path} is not a wallet master key: it must"):
        with_master_key(settings(tmp_path), "serve")


async def test_accounts_wallets_must_open_with_the_configured_key() -> None:
    store, vault = InMemoryAccountStore(), AesGcmWalletVault(os.urandom(32))
    await check_wallets_open(store, None)  # no account: nothing to open
    await AccountAdmin(store, FakeClock()).create_account("bare")
    await check_wallets_open(store, None)  # no wallet: nothing to open
    await AccountAdmin(store, FakeClock(), vault).create_account("alice")
    await check_wallets_open(store, vault)
    with pytest.raises(ConfigurationError, match=r"\(e\.g\. alice\).*set WALLET_MASTER_KEY"):
        await check_wallets_open(store, None)
    with pytest.raises(ConfigurationError, match="sealed with another WALLET_MASTER_KEY"):
        await check_wallets_open(store, AesGcmWalletVault(os.urandom(32)))
