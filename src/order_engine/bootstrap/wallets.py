"""Accounts' wallets in the composition root: the master key that seals them, and the
start-up check that the wallets in the database open with it.

`order-engine serve` works without configuration: with `WALLET_MASTER_KEY` unset it uses
the key in `DATA_DIR/wallet-master.key`, made at its first start (32 random bytes, base64,
mode 0600; its content is never logged). The `accounts` commands on the embedded database
use (or make) the same file. Production processes (`api`, `worker`) take the key from the
setting only, and refuse to start when accounts have wallets they could not open."""

from __future__ import annotations

import base64
import logging
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from order_engine.bootstrap.factories import ConfigurationError
from order_engine.domain.errors import WalletVaultError
from order_engine.engine.account_ports import AccountStore, WalletVault
from order_engine.settings import WALLET_MASTER_KEY_BYTES, Settings, decode_master_key

log = logging.getLogger(__name__)
MASTER_KEY_FILE = "wallet-master.key"


def with_master_key(settings: Settings, command: str) -> Settings:
    """`settings`, with the master key of `DATA_DIR/wallet-master.key` (made now if
    missing) when `WALLET_MASTER_KEY` is unset and `command` is `serve`, or `accounts` on
    the embedded (SQLite) database; else unchanged."""
    if settings.wallet_master_key_bytes is not None:
        return settings
    embedded = settings.resolved_database_url.startswith("sqlite")
    if command != "serve" and not (command == "accounts" and embedded):
        return settings
    path = settings.data_dir / MASTER_KEY_FILE
    key = load_or_create_master_key(path)
    log.info(
        "accounts' wallets are sealed with the master key in %s: keep it with the database "
        "(or set WALLET_MASTER_KEY to its content); without it they cannot be opened",
        path,
    )
    return settings.model_copy(update={"wallet_master_key": SecretStr(key)})


def load_or_create_master_key(path: Path) -> str:
    """The base64 key in `path`, written first (mode 0600) if there is none."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return load_or_create_master_key(path)
    key = base64.b64encode(secrets.token_bytes(WALLET_MASTER_KEY_BYTES)).decode()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    log.info("made a wallet master key in %s (mode 0600)", path)
    return key


def _read_key(path: Path) -> str:
    try:
        text = path.read_text()
        decode_master_key(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        why = exc if isinstance(exc, ValueError) else type(exc).__name__
        raise ConfigurationError(f"{path} is not a wallet master key: it {why}") from None
    if path.stat().st_mode & 0o077:
        log.warning("%s can be read by other users: chmod 600 it", path)
    return text.strip()


async def check_wallets_open(store: AccountStore, vault: WalletVault | None) -> None:
    """`ConfigurationError` unless the accounts' wallets open with `vault` (checked on one
    of them: a wrong master key fails them all)."""
    sealed = next((a for a in await store.list_accounts() if a.wallet is not None), None)
    if sealed is None or sealed.wallet is None:
        return
    if vault is None:
        raise ConfigurationError(
            f"accounts have wallets (e.g. {sealed.name}) sealed with a master key: set "
            "WALLET_MASTER_KEY to it"
        )
    try:
        vault.open(sealed.id, sealed.wallet)
    except WalletVaultError as exc:
        raise ConfigurationError(exc.message) from None
