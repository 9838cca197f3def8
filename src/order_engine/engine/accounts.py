"""`AccountAdmin`: the operator's use cases on accounts and keys (the CLI's, later an admin
API's): create and list accounts, set their limits, issue, list and revoke keys, and give
an account its wallet (a new Solana keypair, sealed by the wallet vault; never replaced
once set)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from order_engine.domain.accounts import (
    Account,
    ApiKey,
    KeyToken,
    Scope,
    SealedWallet,
    check_account_name,
    issue_key,
    parse_expiry,
)
from order_engine.domain.errors import ApiKeyNotFoundError, WalletVaultError
from order_engine.engine.account_ports import AccountStore, WalletVault
from order_engine.engine.ports import Clock

if TYPE_CHECKING:
    from solders.keypair import Keypair

NO_VAULT = "accounts get no wallet: set WALLET_MASTER_KEY (see .env.example)"


class AccountAdmin:
    """`vault` None: accounts are made without a wallet (`ensure_wallet` adds one later).
    `on_revoke` is told each revoked key id (e.g. `Authenticator.forget`). `first_wallet`:
    the keypair the first account ever made gets instead of a new one (an embedded engine
    hands its own wallet, funded by its local chain's genesis, to the admin account it
    makes at its first start)."""

    def __init__(
        self,
        store: AccountStore,
        clock: Clock,
        vault: WalletVault | None = None,
        *,
        on_revoke: Callable[[str], None] | None = None,
        first_wallet: Keypair | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._vault = vault
        self._on_revoke = on_revoke
        self._first_wallet = first_wallet

    async def create_account(self, name: str, *, admin: bool = False) -> Account:
        """Raises `RequestError` for a bad name, `AccountExistsError` for a taken one."""
        account = Account(str(uuid.uuid4()), check_account_name(name), self._clock.now_ms(), admin)
        if self._vault is not None:
            account = replace(account, wallet=await self._new_wallet(account.id))
        await self._store.create_account(account)
        return account

    async def _new_wallet(self, account_id: str) -> SealedWallet:
        assert self._vault is not None
        if self._first_wallet is not None and not await self._store.list_accounts():
            return self._vault.seal(account_id, self._first_wallet)
        return self._vault.create(account_id)

    async def find_account(self, ref: str) -> Account:
        """The account named `ref`, else the one whose id it is (`AccountNotFoundError`)."""
        by_name = await self._store.find_account_by_name(ref.strip().lower())
        return by_name if by_name is not None else await self._store.get_account(ref.strip())

    async def list_accounts(self) -> builtins.list[Account]:
        return await self._store.list_accounts()

    async def set_limits(self, account_ref: str, changes: Mapping[str, Any]) -> Account:
        """Change some of the account's (name or id) limit overrides: `changes` maps
        `AccountLimits` fields to a value, or to None for the engine's default; the others
        stay. Every process applies them within its key cache's time (2 s)."""
        account = await self.find_account(account_ref)
        limits = replace(account.limits, **changes)
        return await self._store.set_limits(account.id, limits)

    async def create_key(
        self, account_ref: str, scope: Scope = Scope.TRADE, *, expires: str | None = None
    ) -> tuple[ApiKey, KeyToken]:
        """A new key for the account (name or id): stored as a digest; the token is the
        only copy of the key. `expires`: see `parse_expiry` (None: never)."""
        account = await self.find_account(account_ref)
        now_ms = self._clock.now_ms()
        expires_ms = None if expires is None else parse_expiry(expires, now_ms=now_ms)
        key, token = issue_key(account, scope, now_ms=now_ms, expires_ms=expires_ms)
        await self._store.create_key(key)
        return key, token

    async def list_keys(self, account_ref: str | None = None) -> builtins.list[ApiKey]:
        """The keys of one account (name or id), or every key."""
        if account_ref is None:
            return await self._store.list_keys()
        return await self._store.list_keys((await self.find_account(account_ref)).id)

    async def find_key(self, key_id: str) -> ApiKey:
        """Raises `ApiKeyNotFoundError`."""
        key = await self._store.find_key(key_id.strip())
        if key is None:
            raise ApiKeyNotFoundError(f"key {key_id.strip()} not found")
        return key

    async def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key (again: a no-op); `ApiKeyNotFoundError` for an unknown id."""
        key = await self._store.revoke_key(key_id.strip(), self._clock.now_ms())
        if self._on_revoke is not None:
            self._on_revoke(key.id)
        return key

    async def ensure_wallet(self, account_id: str) -> SealedWallet:
        """The account's wallet, made now if it has none (`WalletVaultError` without a
        vault). Two callers racing agree on one wallet."""
        account = await self._store.get_account(account_id)
        if account.wallet is not None:
            return account.wallet
        if self._vault is None:
            raise WalletVaultError(NO_VAULT)
        return await self._store.set_wallet(account_id, self._vault.create(account_id))

    async def keypair(self, account_id: str) -> Keypair:
        """The account's keypair, opened (made first if it has none)."""
        wallet = await self.ensure_wallet(account_id)
        if self._vault is None:
            raise WalletVaultError(NO_VAULT)
        return self._vault.open(account_id, wallet)

    def now_ms(self) -> int:
        return self._clock.now_ms()
