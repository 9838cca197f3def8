"""`InMemoryAccountStore`: the `AccountStore` of tests and demos, with the SQL store's
semantics. Accounts and keys are frozen dataclasses, so they are shared, never copied."""

from __future__ import annotations

import builtins
import secrets
from dataclasses import replace

from order_engine.domain.accounts import Account, AccountLimits, ApiKey, SealedWallet
from order_engine.domain.errors import (
    AccountExistsError,
    AccountNotFoundError,
    ApiKeyNotFoundError,
    ConflictError,
    DependencyUnavailableError,
)
from order_engine.domain.orders import ENGINE_WALLET


class InMemoryAccountStore:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._keys: dict[str, ApiKey] = {}
        self._secrets: dict[str, bytes] = {}
        self._closed = False

    async def create_account(self, account: Account) -> None:
        self._check_open()
        if account.id in self._accounts or any(
            a.name == account.name for a in self._accounts.values()
        ):
            raise AccountExistsError(f"an account named {account.name!r} exists")
        self._accounts[account.id] = account

    def wallet_of(self, account_id: str | None) -> str | None:
        """Who pays for a new order of `account_id` (`InMemoryOrderStore`'s record): its
        wallet's public key, else the engine's wallet."""
        account = None if account_id is None else self._accounts.get(account_id)
        if account is None or account.wallet is None:
            return ENGINE_WALLET
        return account.wallet.public_key

    async def get_account(self, account_id: str) -> Account:
        self._check_open()
        account = self._accounts.get(account_id)
        if account is None:
            raise AccountNotFoundError(f"account {account_id} not found")
        return account

    async def find_account_by_name(self, name: str) -> Account | None:
        self._check_open()
        return next((a for a in self._accounts.values() if a.name == name), None)

    async def list_accounts(self) -> builtins.list[Account]:
        self._check_open()
        return sorted(self._accounts.values(), key=lambda a: (a.created_ms, a.id))

    async def set_limits(self, account_id: str, limits: AccountLimits) -> Account:
        account = replace(await self.get_account(account_id), limits=limits)
        self._accounts[account_id] = account
        return account

    async def set_wallet(self, account_id: str, wallet: SealedWallet) -> SealedWallet:
        account = await self.get_account(account_id)
        if account.wallet is None:
            account = self._accounts[account_id] = replace(account, wallet=wallet)
        assert account.wallet is not None
        return account.wallet

    async def create_key(self, key: ApiKey) -> None:
        await self.get_account(key.account_id)
        if key.id in self._keys:
            raise ConflictError(f"key {key.id} exists")
        self._keys[key.id] = key

    async def find_key(self, key_id: str) -> ApiKey | None:
        self._check_open()
        return self._keys.get(key_id)

    async def list_keys(self, account_id: str | None = None) -> builtins.list[ApiKey]:
        self._check_open()
        keys = [k for k in self._keys.values() if account_id in (None, k.account_id)]
        return sorted(keys, key=lambda k: (k.created_ms, k.id))

    async def revoke_key(self, key_id: str, revoked_ms: int) -> ApiKey:
        self._check_open()
        key = self._keys.get(key_id)
        if key is None:
            raise ApiKeyNotFoundError(f"key {key_id} not found")
        if key.revoked_ms is None:
            key = self._keys[key_id] = replace(key, revoked_ms=revoked_ms)
        return key

    async def shared_secret(self, name: str) -> bytes:
        self._check_open()
        return self._secrets.setdefault(name, secrets.token_bytes(32))

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise DependencyUnavailableError("account store is closed")
