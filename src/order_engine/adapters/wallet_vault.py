"""`AesGcmWalletVault`: accounts' Solana keypairs sealed at rest with AES-256-GCM (the
`cryptography` package) under a master key from the settings (`WALLET_MASTER_KEY`).

A sealed wallet is `version (1) | master key check (4) | nonce (12) | ciphertext + tag`:
the plaintext is the keypair's 32-byte seed, the nonce is random per seal, and the
associated data binds the ciphertext to its account id and public key (a blob copied to
another account, or a public key edited beside it, does not open). The key check is the
start of an HMAC of a fixed label under the master key: it tells "sealed with another
master key" apart from "altered", and says nothing about the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from solders.keypair import Keypair

from order_engine.domain.accounts import SealedWallet
from order_engine.domain.errors import WalletVaultError

VERSION = 1
MASTER_KEY_BYTES = 32
CHECK_BYTES = 4
NONCE_BYTES = 12
SEED_BYTES = 32
TAG_BYTES = 16
HEADER_BYTES = 1 + CHECK_BYTES + NONCE_BYTES
SEALED_BYTES = HEADER_BYTES + SEED_BYTES + TAG_BYTES
_AAD_LABEL = b"order-engine wallet v1\x00"


class AesGcmWalletVault:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise WalletVaultError(f"the wallet master key must be {MASTER_KEY_BYTES} bytes")
        self._aead = AESGCM(master_key)
        check = hmac.new(master_key, b"order-engine wallet key check", hashlib.sha256)
        self._check = check.digest()[:CHECK_BYTES]

    def __repr__(self) -> str:
        return f"AesGcmWalletVault(key check {self._check.hex()})"

    def create(self, account_id: str) -> SealedWallet:
        return self.seal(account_id, Keypair())

    def seal(self, account_id: str, keypair: Keypair) -> SealedWallet:
        public_key = str(keypair.pubkey())
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, keypair.secret(), _aad(account_id, public_key))
        return SealedWallet(public_key, bytes([VERSION]) + self._check + nonce + sealed)

    def open(self, account_id: str, wallet: SealedWallet) -> Keypair:
        blob = wallet.ciphertext
        if len(blob) != SEALED_BYTES or blob[0] != VERSION:
            raise WalletVaultError(f"the wallet of account {account_id} is not a sealed wallet")
        if not hmac.compare_digest(blob[1 : 1 + CHECK_BYTES], self._check):
            raise WalletVaultError(
                f"the wallet of account {account_id} was sealed with another "
                "WALLET_MASTER_KEY: set the key it was made with"
            )
        nonce, sealed = blob[1 + CHECK_BYTES : HEADER_BYTES], blob[HEADER_BYTES:]
        try:
            seed = self._aead.decrypt(nonce, sealed, _aad(account_id, wallet.public_key))
        except InvalidTag:
            raise WalletVaultError(
                f"the wallet of account {account_id} does not open: it was altered, "
                "or it belongs to another account"
            ) from None
        return Keypair.from_seed(seed)


def _aad(account_id: str, public_key: str) -> bytes:
    return _AAD_LABEL + account_id.encode() + b"\x00" + public_key.encode()
