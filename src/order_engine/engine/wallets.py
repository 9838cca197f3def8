"""Accounts' wallets: the keypair that signs an account's orders (`AccountKeypairs`, the
chain venues' `Wallets`), and the account's view of its wallet — its balances read from
the chain, and funding it on a chain that can be funded (`AccountWallets`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from order_engine.domain.accounts import Account, check_account_name
from order_engine.domain.errors import (
    AccountNotFoundError,
    FundingUnavailableError,
    RequestError,
    WalletUnavailableError,
    WalletVaultError,
)
from order_engine.domain.orders import ENGINE_WALLET, Order
from order_engine.domain.tokens import Token, TokenRegistry, check_amount
from order_engine.engine.account_ports import AccountStore, Faucet, WalletBalances, WalletVault
from order_engine.engine.accounts import AccountAdmin

if TYPE_CHECKING:
    from solders.keypair import Keypair

CACHED_KEYPAIRS = 10_000

# The accounts found without a wallet during the current attempt (see `one_read_per_attempt`).
_NO_WALLET: ContextVar[set[str] | None] = ContextVar("no_wallet_this_attempt", default=None)


@contextmanager
def one_read_per_attempt() -> Iterator[None]:
    """Inside (one attempt at an order, in its task and the tasks it starts), an account
    read once without a wallet stays without one: the funds check and every leg's build
    agree on who pays, and the account is read once instead of once per step. A wallet
    made meanwhile pays from the next attempt on, for an order whose payer was not
    recorded when it was made (`engine_pays`: one that was is paid as recorded)."""
    token = _NO_WALLET.set(set())
    try:
        yield
    finally:
        _NO_WALLET.reset(token)


def engine_pays(order: Order) -> None:
    """Inside `one_read_per_attempt`: an order recorded as paid by the engine's wallet
    (`ENGINE_WALLET`, when it was made) is signed by it without reading its account, even
    if the account has a wallet by now."""
    no_wallet = _NO_WALLET.get()
    if no_wallet is not None and order.account_id is not None and order.wallet == ENGINE_WALLET:
        no_wallet.add(order.account_id)


class AccountKeypairs:
    """The keypair of each account's wallet, read from the account store and opened by
    the vault; kept once opened (a wallet is never replaced). An account without a wallet
    has None (its orders are signed by the engine's wallet)."""

    def __init__(
        self, store: AccountStore, vault: WalletVault | None, *, cached: int = CACHED_KEYPAIRS
    ) -> None:
        self._store, self._vault, self._max = store, vault, cached
        self._opened: OrderedDict[str, Keypair] = OrderedDict()

    async def keypair_for(self, account_id: str | None) -> Keypair | None:
        """`WalletUnavailableError` when the account is gone or its wallet does not open
        (no master key, another one); `DependencyUnavailableError` when the store is down."""
        if account_id is None:
            return None
        no_wallet = _NO_WALLET.get()
        if no_wallet is not None and account_id in no_wallet:
            return None  # the engine pays this attempt (see `engine_pays`)
        keypair = self._opened.get(account_id)
        if keypair is not None:
            self._opened.move_to_end(account_id)
            return keypair
        try:
            account = await self._store.get_account(account_id)
        except AccountNotFoundError:
            raise WalletUnavailableError(f"the order's account {account_id} is gone") from None
        if account.wallet is None:
            if no_wallet is not None:
                no_wallet.add(account_id)
            return None
        if self._vault is None:
            raise WalletUnavailableError(
                f"account {account.name} has a wallet but this engine has no WALLET_MASTER_KEY "
                "to open it"
            )
        try:
            keypair = self._vault.open(account.id, account.wallet)
        except WalletVaultError as exc:
            raise WalletUnavailableError(exc.message) from None
        self._opened[account_id] = keypair
        if len(self._opened) > self._max:
            self._opened.popitem(last=False)
        return keypair


@dataclass(frozen=True, slots=True)
class Balance:
    token: Token
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AccountWallet:
    """An account with its wallet's public key (None: it has no wallet, so its orders are
    paid by the engine's) and balances (empty without a chain, e.g. simulated venues)."""

    account: Account
    wallet: str | None
    balances: tuple[Balance, ...]


class AccountWallets:
    """`view`: an account's wallet and balances; `fund`: an admin gives an account's wallet
    tokens on a chain that can be funded (`faucet`)."""

    def __init__(
        self,
        admin: AccountAdmin,
        tokens: TokenRegistry,
        balances: WalletBalances | None,
        faucet: Faucet,
    ) -> None:
        self._admin, self._tokens = admin, tokens
        self._balances, self._faucet = balances, faucet

    async def view(self, account_id: str) -> AccountWallet:
        """`AccountNotFoundError` for an unknown account."""
        return await self._view(await self._admin.find_account(account_id))

    async def _view(self, account: Account) -> AccountWallet:
        wallet = account.wallet.public_key if account.wallet is not None else None
        if wallet is None or self._balances is None:
            return AccountWallet(account, wallet, ())
        tokens = self._tokens.values()
        amounts = await self._balances.balances(wallet, tokens)
        held = tuple(Balance(t, a) for t, a in zip(tokens, amounts, strict=True))
        return AccountWallet(account, wallet, held)

    async def fund(self, account_ref: str, symbol: str, amount: Decimal) -> AccountWallet:
        """Give the account (name or id) `amount` of the token `symbol`, making its wallet
        first if it has none; the account as it stands after. `AccountNotFoundError`,
        `RequestError` (token, amount), `FundingUnavailableError` (this chain cannot be
        funded, or accounts cannot have wallets here)."""
        try:
            check_account_name(account_ref)  # a name or an id (ids are names' shape too)
        except RequestError:
            raise AccountNotFoundError(f"no account is named {account_ref[:64]!r}") from None
        token = self._tokens.find(symbol, field="token")
        check_amount(amount, token, field="amount")
        account = await self._admin.find_account(account_ref)
        try:
            wallet = await self._admin.ensure_wallet(account.id)
        except WalletVaultError as exc:
            raise FundingUnavailableError(f"account {account.name} has no wallet: {exc}") from None
        await self._faucet.fund(wallet.public_key, token, amount)
        return await self.view(account.id)


class NoFaucet:
    """The `Faucet` of a chain that cannot be funded: says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def fund(self, wallet: str, token: Token, amount: Decimal) -> None:
        raise FundingUnavailableError(self.reason)
