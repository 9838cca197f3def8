"""The engine's I/O seams on the accounts' side: accounts and keys, wallets and their
funds, per-account rate windows. As in `engine.ports`: each has an in-memory
implementation (embedded mode and test fake) and one contract test suite."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from order_engine.domain.accounts import Account, AccountLimits, ApiKey, SealedWallet
from order_engine.domain.tokens import Token

if TYPE_CHECKING:
    from solders.keypair import Keypair


class RateWindow(Protocol):
    """Sliding windows of admissions, one per key (e.g. an account's orders of the last
    minute), shared by every process that shares the implementation's backend. Driver
    errors surface as `DependencyUnavailableError`."""

    async def acquire(
        self, key: str, entry: str, *, limit: int, window_ms: int, now_ms: int
    ) -> int | None:
        """Record `entry` (unique) under `key` if fewer than `limit` entries were recorded
        in the `window_ms` before `now_ms`, and return None; else record nothing and
        return how many ms until the oldest of them leaves the window (at least 1)."""
        ...

    async def release(self, key: str, entry: str) -> None:
        """Forget `entry` (what it admitted was refused after all); unknown: a no-op."""
        ...

    async def close(self) -> None: ...


class AccountStore(Protocol):
    """Accounts and their API keys (only the keys' digests). Driver errors surface as
    `DependencyUnavailableError`."""

    async def create_account(self, account: Account) -> None:
        """Raises `AccountExistsError` if an account has `account.name` (or its id)."""
        ...

    async def get_account(self, account_id: str) -> Account:
        """Raises `AccountNotFoundError`."""
        ...

    async def find_account_by_name(self, name: str) -> Account | None: ...

    async def list_accounts(self) -> builtins.list[Account]:
        """Every account, oldest first."""
        ...

    async def set_limits(self, account_id: str, limits: AccountLimits) -> Account:
        """Replace the account's limit overrides; the account as stored now. Raises
        `AccountNotFoundError`."""
        ...

    async def set_wallet(self, account_id: str, wallet: SealedWallet) -> SealedWallet:
        """Give the account `wallet` unless it has one already (a wallet is never
        replaced: it may hold funds); returns the wallet the account has now, so two
        processes creating one at once agree on it. Raises `AccountNotFoundError`."""
        ...

    async def create_key(self, key: ApiKey) -> None:
        """Raises `AccountNotFoundError` if `key.account_id` names no account,
        `ConflictError` if a key has `key.id`."""
        ...

    async def find_key(self, key_id: str) -> ApiKey | None: ...

    async def list_keys(self, account_id: str | None = None) -> builtins.list[ApiKey]:
        """The keys of one account (every key when None), oldest first."""
        ...

    async def shared_secret(self, name: str) -> bytes:
        """The deployment's random secret `name` (32 bytes), made on first use: every
        process on the same store gets the same bytes (e.g. to sign stream tokens)."""
        ...

    async def revoke_key(self, key_id: str, revoked_ms: int) -> ApiKey:
        """Revoke a key (idempotent: a revoked key keeps its first `revoked_ms`); the key
        as stored now. Raises `ApiKeyNotFoundError`."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class WalletVault(Protocol):
    """Makes, seals and opens accounts' Solana keypairs. A sealed wallet is bound to its
    account: it opens only for that account id, and only with the vault's master key."""

    def create(self, account_id: str) -> SealedWallet:
        """A new keypair for the account, sealed (the plain secret is not kept)."""
        ...

    def seal(self, account_id: str, keypair: Keypair) -> SealedWallet: ...

    def open(self, account_id: str, wallet: SealedWallet) -> Keypair:
        """Raises `WalletVaultError` when the wallet does not open (another master key,
        another account's wallet, altered bytes)."""
        ...


class Funds(Protocol):
    """Whether an order's wallet can pay it (`venues.chain.wallets.ChainWallets`)."""

    async def check(
        self, owner: str | None, token: Token, amount: Decimal, *, transactions: int = 1
    ) -> None:
        """Raise `InsufficientFundsError`, naming the balance and the need, unless the
        wallet paying for `owner`'s orders (an account id; None: the engine's) holds
        `amount` of `token` and the SOL the fees of `transactions` transactions need."""
        ...


class WalletBalances(Protocol):
    """Wallets' balances read from the chain (`ChainWallets`)."""

    async def balances(self, wallet: str, tokens: Sequence[Token]) -> builtins.list[Decimal]:
        """`wallet`'s balance of each of `tokens` (0 where it holds no account of one)."""
        ...


class Faucet(Protocol):
    """Funds wallets on the local chain: SOL by airdrop, other tokens by minting them."""

    async def fund(self, wallet: str, token: Token, amount: Decimal) -> None:
        """Give `wallet` `amount` of `token`, confirmed when this returns.
        `FundingUnavailableError` when this chain cannot (no faucet, a mint this engine
        cannot sign for), `RequestError` for wSOL (fund SOL)."""
        ...
