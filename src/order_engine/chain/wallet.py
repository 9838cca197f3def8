"""The engine's wallet: a keypair file in the Solana CLI's format (a JSON array of the 64
secret-key bytes), created in the data directory with mode 0600 when missing. Its secret
never reaches a log or an error message."""

from __future__ import annotations

import json
import os
from pathlib import Path

from solders.keypair import Keypair

WALLET_FILE = "wallet.json"


class WalletFileError(Exception):
    """The keypair file exists but is not a keypair (the message names the file only)."""


def load_or_create_wallet(path: Path) -> Keypair:
    if path.exists():
        return load_wallet(path)
    keypair = Keypair()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(list(bytes(keypair)), out)
    return keypair


def load_wallet(path: Path) -> Keypair:
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, list) or len(raw) != 64:
            raise ValueError
        return Keypair.from_bytes(bytes(raw))
    except (OSError, ValueError, TypeError) as exc:
        raise WalletFileError(
            f"{path} is not a Solana keypair file (a JSON array of 64 numbers)"
        ) from exc
