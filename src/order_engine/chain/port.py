"""The `Chain` port: what the engine asks of a Solana cluster, and the answers' shapes.

Two implementations pass one contract suite (`tests/contract/test_chain.py`): the
in-process chain (`InProcessChain`: LiteSVM with the real programs, a slot clock and a
journal) and, later, JSON-RPC to any cluster. Every method is async because a cluster is a
network away; errors are the engine's: `ChainUnavailableError` (transient: retry) and
`TransactionRejectedError` (final: the chain will never take these bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from solders.hash import Hash
from solders.pubkey import Pubkey

BLOCKHASH_VALID_SLOTS = 150  # a blockhash is accepted for this many slots after its own
CLOCK_SYSVAR = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")
FINALIZED_AFTER_SLOTS = 32


class Commitment(StrEnum):
    PROCESSED = "processed"
    CONFIRMED = "confirmed"
    FINALIZED = "finalized"


@dataclass(frozen=True, slots=True)
class LatestBlockhash:
    blockhash: Hash
    last_valid_block_height: int


@dataclass(frozen=True, slots=True)
class AccountInfo:
    lamports: int
    owner: Pubkey
    data: bytes
    executable: bool = False


@dataclass(frozen=True, slots=True)
class SignatureStatus:
    """A transaction the chain executed (landed or failed on chain)."""

    slot: int
    commitment: Commitment
    err: str | None = None  # None: it landed; else why it failed (fees were still paid)
    custom_error: int | None = None  # a program's custom error code (e.g. 6005)

    @property
    def succeeded(self) -> bool:
        return self.err is None


@dataclass(frozen=True, slots=True)
class TokenBalanceChange:
    account: Pubkey
    mint: Pubkey
    owner: Pubkey
    pre: int
    post: int

    @property
    def delta(self) -> int:
        return self.post - self.pre


@dataclass(frozen=True, slots=True)
class TransactionDetails:
    """What `getTransaction` tells: fee, compute units, logs and balance changes."""

    signature: str
    slot: int
    block_time: int
    fee: int
    compute_units: int
    err: str | None
    custom_error: int | None
    logs: tuple[str, ...]
    token_balances: tuple[TokenBalanceChange, ...] = ()
    lamport_balances: tuple[tuple[Pubkey, int, int], ...] = field(default_factory=tuple)
    memo: str | None = None

    def token_delta(self, owner: Pubkey, mint: Pubkey) -> int:
        """How much of `mint` the accounts of `owner` gained (negative: spent)."""
        return sum(c.delta for c in self.token_balances if c.owner == owner and c.mint == mint)

    @property
    def fee_payer(self) -> Pubkey | None:
        """Who signed and paid for it (the first writable account; None if not known)."""
        return self.lamport_balances[0][0] if self.lamport_balances else None

    def lamport_delta(self, account: Pubkey) -> int:
        return sum(post - pre for key, pre, post in self.lamport_balances if key == account)

    def as_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "slot": self.slot,
            "blockTime": self.block_time,
            "status": "failed" if self.err else "landed",
            "error": self.err,
            "customError": self.custom_error,
            "fee": self.fee,
            "computeUnits": self.compute_units,
            "memo": self.memo,
            "logs": list(self.logs),
            "tokenBalanceChanges": [
                {
                    "account": str(c.account),
                    "mint": str(c.mint),
                    "owner": str(c.owner),
                    "pre": str(c.pre),
                    "post": str(c.post),
                }
                for c in self.token_balances
                if c.delta
            ],
            "lamportChanges": [
                {"account": str(k), "pre": str(pre), "post": str(post)}
                for k, pre, post in self.lamport_balances
                if pre != post
            ],
        }


@dataclass(frozen=True, slots=True)
class Simulation:
    err: str | None
    custom_error: int | None
    compute_units: int
    logs: tuple[str, ...]


def clock_unix(data: bytes) -> int:
    """The unix_timestamp of the Clock sysvar's data (slot, epoch start, epoch, leader
    schedule epoch, unix timestamp)."""
    return int.from_bytes(data[32:40], "little", signed=True)


class Chain(Protocol):
    """A Solana cluster, as the engine uses it."""

    @property
    def genesis_hash(self) -> str:
        """Which chain this is: transactions signed for another one are foreign here."""
        ...

    async def latest_blockhash(self) -> LatestBlockhash: ...

    async def block_height(self) -> int: ...

    async def slot(self) -> int: ...

    async def unix_time(self) -> int:
        """The cluster clock (the programs' `Clock::unix_timestamp`)."""
        ...

    async def accounts(self, keys: Sequence[Pubkey]) -> list[AccountInfo | None]:
        """Several accounts read at one slot (`getMultipleAccounts`)."""
        ...

    async def accounts_at(self, keys: Sequence[Pubkey]) -> tuple[int, list[AccountInfo | None]]:
        """`accounts` and the slot they were read at, in one round trip (with the Clock
        sysvar among `keys`, the cluster time too: `clock_unix`)."""
        ...

    async def balance(self, key: Pubkey) -> int: ...

    async def simulate(self, wire: bytes) -> Simulation:
        """Run a signed transaction without keeping its effects."""
        ...

    async def send(self, wire: bytes) -> str:
        """Hand a signed transaction to the chain and return its signature. Sending bytes
        the chain has seen is harmless (it executes a signature once). Raises
        `TransactionRejectedError` if its blockhash is not (or no longer) valid."""
        ...

    async def signature_statuses(self, signatures: Sequence[str]) -> list[SignatureStatus | None]:
        """None for a signature the chain has not executed (yet, or ever)."""
        ...

    async def transaction(self, signature: str) -> TransactionDetails | None: ...

    async def close(self) -> None: ...
