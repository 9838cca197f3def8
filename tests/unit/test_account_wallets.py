"""Accounts' wallets in the engine: the keypair that signs an account's orders (opened from
the store by the vault, kept once opened), the account's view of its wallet and balances,
and funding it; with fakes for the chain."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from decimal import Decimal

import pytest
from solders.keypair import Keypair

from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.adapters.wallet_vault import AesGcmWalletVault
from order_engine.domain.accounts import Account
from order_engine.domain.errors import (
    AccountNotFoundError,
    FundingUnavailableError,
    RequestError,
    UnknownTokenError,
    WalletUnavailableError,
)
from order_engine.domain.orders import ENGINE_WALLET, Order
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.engine.accounts import AccountAdmin
from order_engine.engine.wallets import (
    AccountKeypairs,
    AccountWallets,
    NoFaucet,
    engine_pays,
    one_read_per_attempt,
)
from tests.unit.fakes import FakeClock

D = Decimal


class CountingStore(InMemoryAccountStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_account(self, account_id: str) -> Account:
        self.reads += 1
        return await super().get_account(account_id)


class LedgerChain:
    """`WalletBalances` and `Faucet` over a dict: wallet -> symbol -> amount."""

    def __init__(self) -> None:
        self.held: dict[str, dict[str, Decimal]] = {}

    async def balances(self, wallet: str, tokens: Sequence[Token]) -> list[Decimal]:
        return [self.held.get(wallet, {}).get(t.symbol, D(0)) for t in tokens]

    async def fund(self, wallet: str, token: Token, amount: Decimal) -> None:
        mine = self.held.setdefault(wallet, {})
        mine[token.symbol] = mine.get(token.symbol, D(0)) + amount


def vault() -> AesGcmWalletVault:
    return AesGcmWalletVault(os.urandom(32))


async def test_an_accounts_keypair_opens_once_and_is_kept() -> None:
    store, sealer = CountingStore(), vault()
    admin = AccountAdmin(store, FakeClock(), sealer)
    alice = await admin.create_account("alice")
    keypairs = AccountKeypairs(store, sealer)
    first = await keypairs.keypair_for(alice.id)
    assert first is not None and alice.wallet is not None
    assert str(first.pubkey()) == alice.wallet.public_key
    assert await keypairs.keypair_for(alice.id) == first and store.reads == 1
    assert await keypairs.keypair_for(None) is None


async def test_an_account_without_a_wallet_uses_the_engines() -> None:
    store = InMemoryAccountStore()
    bare = await AccountAdmin(store, FakeClock()).create_account("bare")
    assert await AccountKeypairs(store, vault()).keypair_for(bare.id) is None


async def test_an_attempt_reads_an_account_without_a_wallet_once() -> None:
    store, sealer = CountingStore(), vault()
    bare = await AccountAdmin(store, FakeClock()).create_account("bare")
    keypairs = AccountKeypairs(store, sealer)
    assert [await keypairs.keypair_for(bare.id) for _ in range(2)] == [None, None]
    assert store.reads == 2  # outside an attempt: every call reads

    async def steps() -> list[Keypair | None]:  # the funds check, then each leg's build
        first = await keypairs.keypair_for(bare.id)
        legs = [asyncio.create_task(keypairs.keypair_for(bare.id)) for _ in range(2)]
        return [first, *(await asyncio.gather(*legs))]

    with one_read_per_attempt():
        assert await steps() == [None, None, None]
    assert store.reads == 3
    await AccountAdmin(store, FakeClock(), sealer).ensure_wallet(bare.id)
    before = store.reads
    with one_read_per_attempt():  # the next attempt sees the wallet made meanwhile
        made = await steps()
    assert made[0] is not None and made == [made[0]] * 3
    assert store.reads == before + 1


async def test_an_order_recorded_as_the_engines_is_signed_by_it_without_a_read() -> None:
    store, sealer = CountingStore(), vault()
    admin = AccountAdmin(store, FakeClock(), sealer)
    bare = await admin.create_account("bare")
    order = Order("o1", "SOL", "USDC", D(1), 50, 0, account_id=bare.id, wallet=ENGINE_WALLET)
    await admin.ensure_wallet(bare.id)  # made after the order
    keypairs = AccountKeypairs(store, sealer)
    assert await keypairs.keypair_for(bare.id) is not None  # opened, kept for later orders
    before = store.reads
    with one_read_per_attempt():
        engine_pays(order)
        assert await keypairs.keypair_for(bare.id) is None  # as recorded: the engine's
    assert store.reads == before
    order.wallet = None  # not recorded (an order stored before 0012): the account decides
    with one_read_per_attempt():
        engine_pays(order)
        assert await keypairs.keypair_for(bare.id) is not None


async def test_a_wallet_that_cannot_be_opened_fails_the_order_for_good() -> None:
    store, sealer = InMemoryAccountStore(), vault()
    alice = await AccountAdmin(store, FakeClock(), sealer).create_account("alice")
    with pytest.raises(WalletUnavailableError, match="no WALLET_MASTER_KEY"):
        await AccountKeypairs(store, None).keypair_for(alice.id)
    with pytest.raises(WalletUnavailableError, match="another WALLET_MASTER_KEY"):
        await AccountKeypairs(store, vault()).keypair_for(alice.id)
    with pytest.raises(WalletUnavailableError, match="is gone"):
        await AccountKeypairs(store, sealer).keypair_for("no-such-account")


async def test_the_first_account_gets_the_engines_wallet_and_no_other_does() -> None:
    store, sealer, engine = InMemoryAccountStore(), vault(), Keypair()
    admin = AccountAdmin(store, FakeClock(), sealer, first_wallet=engine)
    first = await admin.create_account("admin", admin=True)
    second = await admin.create_account("bob")
    keypairs = AccountKeypairs(store, sealer)
    assert await keypairs.keypair_for(first.id) == engine
    assert await keypairs.keypair_for(second.id) not in (None, engine)


async def test_an_account_sees_its_wallet_and_balances_and_an_admin_funds_it() -> None:
    store, chain = InMemoryAccountStore(), LedgerChain()
    bare_admin = AccountAdmin(store, FakeClock())
    old = await bare_admin.create_account("old")  # made before wallets: none yet
    admin = AccountAdmin(store, FakeClock(), vault())
    wallets = AccountWallets(admin, TokenRegistry(), chain, chain)
    seen = await wallets.view(old.id)
    assert seen.wallet is None and seen.balances == ()
    funded = await wallets.fund("old", "sol", D("10"))  # made now, then funded
    assert funded.wallet is not None and funded.account.id == old.id
    held = {b.token.symbol: b.amount for b in funded.balances}
    assert held["SOL"] == 10 and held["USDC"] == 0 and len(held) == len(TokenRegistry())
    await wallets.fund(old.id, "USDC", D("2.5"))
    again = {b.token.symbol: b.amount for b in (await wallets.view(old.id)).balances}
    assert again["SOL"] == 10 and again["USDC"] == D("2.5")


async def test_funding_refuses_what_it_cannot_do() -> None:
    store, chain = InMemoryAccountStore(), LedgerChain()
    admin = AccountAdmin(store, FakeClock(), vault())
    await admin.create_account("alice")
    wallets = AccountWallets(admin, TokenRegistry(), chain, chain)
    with pytest.raises(AccountNotFoundError):
        await wallets.fund("nobody", "SOL", D(1))
    with pytest.raises(UnknownTokenError) as unknown:
        await wallets.fund("alice", "DOGE", D(1))
    assert unknown.value.field == "token"
    with pytest.raises(RequestError) as bad:
        await wallets.fund("alice", "USDC", D("0.0000001"))
    assert bad.value.field == "amount"
    no_chain = AccountWallets(admin, TokenRegistry(), None, NoFaucet("simulated venues"))
    with pytest.raises(FundingUnavailableError, match="simulated venues"):
        await no_chain.fund("alice", "SOL", D(1))
    assert (await no_chain.view((await admin.find_account("alice")).id)).balances == ()
    no_vault = AccountWallets(AccountAdmin(store, FakeClock()), TokenRegistry(), chain, chain)
    await AccountAdmin(store, FakeClock()).create_account("bare")
    with pytest.raises(FundingUnavailableError, match="bare has no wallet"):
        await no_vault.fund("bare", "SOL", D(1))
