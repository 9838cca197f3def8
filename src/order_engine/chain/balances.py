"""Reading a transaction's effects off the in-process chain: token and lamport balances
before and after (what `getTransaction` reports as pre/post balances), its fee, compute
units, logs and error."""

from __future__ import annotations

import re
from dataclasses import dataclass

from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from order_engine.chain.memo import memo_of
from order_engine.chain.port import TokenBalanceChange, TransactionDetails
from order_engine.chain.programs import DLMM_ID, RAYDIUM_CPMM_ID

SYSTEM_PROGRAM = Pubkey.default()
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_ACCOUNT_SIZE = 165
_CUSTOM = re.compile(r"Custom\((\d+)\)")
_SNAPSHOT_OWNERS = (SYSTEM_PROGRAM, TOKEN_PROGRAM, RAYDIUM_CPMM_ID, DLMM_ID)


def custom_error_of(err: str) -> int | None:
    """A program's custom error code in a transaction error's text (`Custom(6005)`)."""
    found = _CUSTOM.search(err)
    return int(found.group(1)) if found else None


def writable_keys(tx: VersionedTransaction) -> list[Pubkey]:
    """The accounts a transaction may write, from its message header."""
    message = tx.message
    header, keys = message.header, message.account_keys
    signed = header.num_required_signatures
    writable_signed = signed - header.num_readonly_signed_accounts
    writable_end = len(keys) - header.num_readonly_unsigned_accounts
    return [k for i, k in enumerate(keys) if i < writable_signed or signed <= i < writable_end]


@dataclass(frozen=True, slots=True)
class _Holding:
    lamports: int
    owner: Pubkey
    mint: Pubkey | None = None  # set for token accounts
    token_owner: Pubkey | None = None
    amount: int = 0


class BalanceProbe:
    """Reads the balances a transaction may change. Accounts that hold program state
    (pools, bin arrays) are remembered and skipped: they have no balance to report."""

    def __init__(self, svm: LiteSVM) -> None:
        self._svm = svm
        self._skip: set[Pubkey] = {SYSTEM_PROGRAM, TOKEN_PROGRAM, RAYDIUM_CPMM_ID, DLMM_ID}

    def read(self, tx: VersionedTransaction) -> dict[Pubkey, _Holding | None]:
        out: dict[Pubkey, _Holding | None] = {}
        for key in writable_keys(tx):
            if key not in self._skip:
                out[key] = self._holding(key)
        return out

    def _holding(self, key: Pubkey) -> _Holding | None:
        found = self._svm.get_account(key)
        if found is None or (found.lamports == 0 and not found.data):
            return None
        if found.owner == TOKEN_PROGRAM and len(found.data) == TOKEN_ACCOUNT_SIZE:
            data = bytes(found.data)
            return _Holding(
                found.lamports,
                found.owner,
                Pubkey.from_bytes(data[:32]),
                Pubkey.from_bytes(data[32:64]),
                int.from_bytes(data[64:72], "little"),
            )
        if found.owner != SYSTEM_PROGRAM or found.executable:
            self._skip.add(key)
        return _Holding(found.lamports, found.owner)

    def details(
        self,
        tx: VersionedTransaction,
        before: dict[Pubkey, _Holding | None],
        result: TransactionMetadata | FailedTransactionMetadata,
        slot: int,
        unix: int,
    ) -> TransactionDetails | None:
        """The details of an executed transaction; None if the chain refused it outright
        (e.g. an unknown fee payer), which then changed nothing and charged nothing."""
        signature = str(tx.signatures[0])
        err: str | None = None
        if isinstance(result, FailedTransactionMetadata):
            meta, err = result.meta(), str(result.err())
            if meta.fee() == 0:
                return None
        else:
            meta = result
        after = {key: self._holding(key) for key in before}
        return TransactionDetails(
            signature=signature,
            slot=slot,
            block_time=unix,
            fee=meta.fee(),
            compute_units=meta.compute_units_consumed(),
            err=err,
            custom_error=None if err is None else custom_error_of(err),
            logs=tuple(meta.logs()),
            token_balances=_token_changes(before, after),
            lamport_balances=_lamport_changes(before, after),
            memo=memo_of(tx),
        )


def _token_changes(
    before: dict[Pubkey, _Holding | None], after: dict[Pubkey, _Holding | None]
) -> tuple[TokenBalanceChange, ...]:
    changes: list[TokenBalanceChange] = []
    for key, pre in before.items():
        post = after[key]
        ref = pre if pre is not None and pre.mint is not None else post
        if ref is None or ref.mint is None or ref.token_owner is None:
            continue
        pre_amount = pre.amount if pre is not None and pre.mint is not None else 0
        post_amount = post.amount if post is not None and post.mint is not None else 0
        changes.append(TokenBalanceChange(key, ref.mint, ref.token_owner, pre_amount, post_amount))
    return tuple(changes)


def _lamport_changes(
    before: dict[Pubkey, _Holding | None], after: dict[Pubkey, _Holding | None]
) -> tuple[tuple[Pubkey, int, int], ...]:
    """Lamports of wallets (system accounts), before and after."""
    out: list[tuple[Pubkey, int, int]] = []
    for key, pre in before.items():
        post = after[key]
        if any(h is not None and h.owner != SYSTEM_PROGRAM for h in (pre, post)):
            continue
        out.append((key, pre.lamports if pre else 0, post.lamports if post else 0))
    return tuple(out)


def all_accounts(svm: LiteSVM) -> list[tuple[Pubkey, bytes]]:
    """Every account a snapshot keeps: wallets, token accounts and the programs' state."""
    out: list[tuple[Pubkey, bytes]] = []
    for owner in _SNAPSHOT_OWNERS:
        out.extend((key, bytes(account)) for key, account in svm.get_program_accounts(owner))
    return out
