"""Wallets sealed at rest: a round trip opens the same keypair; the stored blob (and the
database file holding it) carries no plaintext secret; another master key, another
account or altered bytes fail with a clear error; accounts get one wallet, never two."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest
from solders.keypair import Keypair

from order_engine.adapters.memory_accounts import InMemoryAccountStore
from order_engine.adapters.sql import create_sql_account_store
from order_engine.adapters.wallet_vault import SEALED_BYTES, AesGcmWalletVault
from order_engine.bootstrap.factories import ConfigurationError, make_wallet_vault
from order_engine.domain.accounts import SealedWallet
from order_engine.domain.errors import WalletVaultError
from order_engine.engine.accounts import AccountAdmin
from order_engine.settings import Settings
from tests.unit.fakes import FakeClock

MASTER = bytes(range(32))
OTHER = bytes(range(1, 33))


def secret_forms(keypair: Keypair) -> list[bytes]:
    """Every way the secret could leak: the seed, the 64-byte keypair, their base64."""
    seed, whole = keypair.secret(), bytes(keypair)
    forms = [seed, whole, seed[:16], seed[16:]]
    return (
        forms + [base64.b64encode(f) for f in forms] + [seed.hex().encode(), str(keypair).encode()]
    )


def test_round_trip_opens_the_same_keypair() -> None:
    vault = AesGcmWalletVault(MASTER)
    keypair = Keypair()
    sealed = vault.seal("acc-1", keypair)
    assert sealed.public_key == str(keypair.pubkey())
    assert len(sealed.ciphertext) == SEALED_BYTES
    assert vault.open("acc-1", sealed) == keypair
    made = vault.create("acc-2")
    assert str(vault.open("acc-2", made).pubkey()) == made.public_key


def test_sealing_twice_gives_different_blobs() -> None:
    vault, keypair = AesGcmWalletVault(MASTER), Keypair()
    assert vault.seal("a", keypair).ciphertext != vault.seal("a", keypair).ciphertext


def test_the_blob_holds_no_plaintext_secret() -> None:
    keypair = Keypair()
    blob = AesGcmWalletVault(MASTER).seal("acc-1", keypair).ciphertext
    for form in secret_forms(keypair):
        assert form not in blob


def test_another_master_key_fails_clearly() -> None:
    sealed = AesGcmWalletVault(MASTER).create("acc-1")
    with pytest.raises(WalletVaultError, match="sealed with another WALLET_MASTER_KEY"):
        AesGcmWalletVault(OTHER).open("acc-1", sealed)


def test_another_account_or_altered_bytes_do_not_open() -> None:
    vault = AesGcmWalletVault(MASTER)
    sealed = vault.create("acc-1")
    with pytest.raises(WalletVaultError, match="altered, or it belongs to another account"):
        vault.open("acc-2", sealed)
    flipped = bytearray(sealed.ciphertext)
    flipped[-1] ^= 1
    with pytest.raises(WalletVaultError, match="altered"):
        vault.open("acc-1", SealedWallet(sealed.public_key, bytes(flipped)))
    with pytest.raises(WalletVaultError, match="altered"):  # a public key swapped beside it
        vault.open("acc-1", SealedWallet(str(Keypair().pubkey()), sealed.ciphertext))
    with pytest.raises(WalletVaultError, match="not a sealed wallet"):
        vault.open("acc-1", SealedWallet(sealed.public_key, sealed.ciphertext[:-1]))


def test_master_key_must_be_32_bytes_and_is_never_shown() -> None:
    with pytest.raises(WalletVaultError, match="32 bytes"):
        AesGcmWalletVault(b"short")
    assert MASTER.hex() not in repr(AesGcmWalletVault(MASTER))


def test_settings_decode_the_master_key_without_echoing_it() -> None:
    text = base64.b64encode(MASTER).decode()
    settings = Settings(wallet_master_key=text)
    assert settings.wallet_master_key_bytes == MASTER
    assert text not in repr(settings) and text not in str(settings.model_dump())
    assert isinstance(make_wallet_vault(settings), AesGcmWalletVault)
    assert make_wallet_vault(Settings(wallet_master_key=None)) is None
    assert Settings(wallet_master_key="").wallet_master_key_bytes is None
    for bad in ("c2hvcnQ=", "not base64 at all!", base64.b64encode(os.urandom(31)).decode()):
        problem = Settings(wallet_master_key=bad).problem_for("serve")
        assert problem is not None and problem.startswith("WALLET_MASTER_KEY must")
        assert bad not in problem
        with pytest.raises(ConfigurationError) as caught:
            make_wallet_vault(Settings(wallet_master_key=bad))
        assert bad not in str(caught.value)


async def test_accounts_get_a_sealed_wallet_and_keep_it(tmp_path: Path) -> None:
    store = await create_sql_account_store(f"sqlite+aiosqlite:///{tmp_path}/orders.db")
    vault = AesGcmWalletVault(MASTER)
    admin = AccountAdmin(store, FakeClock(), vault)
    try:
        alice = await admin.create_account("alice")
        assert alice.wallet is not None
        keypair = await admin.keypair(alice.id)
        assert str(keypair.pubkey()) == alice.wallet.public_key
        assert await admin.keypair(alice.id) == keypair  # the same one every time
    finally:
        await store.close()
    db = await asyncio.to_thread(read_files, tmp_path)
    assert alice.wallet.ciphertext in db  # the file was read (WAL included)
    for form in secret_forms(keypair):
        assert form not in db


def read_files(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


async def test_a_wallet_is_made_later_once_even_when_racing() -> None:
    store, clock = InMemoryAccountStore(), FakeClock()
    bare = await AccountAdmin(store, clock).create_account("bob")  # no vault: no wallet
    assert bare.wallet is None
    with pytest.raises(WalletVaultError, match="WALLET_MASTER_KEY"):
        await AccountAdmin(store, clock).ensure_wallet(bare.id)
    admins = [AccountAdmin(store, clock, AesGcmWalletVault(MASTER)) for _ in range(4)]
    wallets = await asyncio.gather(*(a.ensure_wallet(bare.id) for a in admins))
    assert len(set(wallets)) == 1
    assert (await store.get_account(bare.id)).wallet == wallets[0]
