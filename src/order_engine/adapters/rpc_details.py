"""Solana JSON-RPC answers (`solders.rpc` types) as the `Chain` port's values: a signature's
status and a transaction's details (fee, compute units, logs, memo, balance changes)."""

from __future__ import annotations

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransactionTokenBalance,
)

from order_engine.chain.balances import custom_error_of
from order_engine.chain.memo import memo_of
from order_engine.chain.port import (
    Commitment,
    SignatureStatus,
    TokenBalanceChange,
    TransactionDetails,
)

_COMMITMENTS = (  # solders' enum is not hashable: a list of pairs
    (TransactionConfirmationStatus.Processed, Commitment.PROCESSED),
    (TransactionConfirmationStatus.Confirmed, Commitment.CONFIRMED),
    (TransactionConfirmationStatus.Finalized, Commitment.FINALIZED),
)


def status_of(found: TransactionStatus) -> SignatureStatus:
    err = None if found.err is None else str(found.err)
    level = found.confirmation_status
    commitment = next((c for s, c in _COMMITMENTS if s == level), Commitment.PROCESSED)
    return SignatureStatus(
        found.slot, commitment, err, None if err is None else custom_error_of(err)
    )


def details_of(
    signature: str, found: EncodedConfirmedTransactionWithStatusMeta
) -> TransactionDetails:
    meta = found.transaction.meta
    if meta is None:
        raise ValueError(f"the node gave no status metadata for {signature}")
    encoded = found.transaction.transaction
    tx = encoded if isinstance(encoded, VersionedTransaction) else None
    keys = list(tx.message.account_keys) if tx is not None else []
    err = None if meta.err is None else str(meta.err)
    pre_tokens, post_tokens = meta.pre_token_balances or [], meta.post_token_balances or []
    lamports = zip(keys, meta.pre_balances, meta.post_balances, strict=False)
    return TransactionDetails(
        signature=signature,
        slot=found.slot,
        block_time=found.block_time or 0,
        fee=meta.fee,
        compute_units=int(meta.compute_units_consumed or 0),
        err=err,
        custom_error=None if err is None else custom_error_of(err),
        logs=tuple(meta.log_messages or ()),
        token_balances=_token_changes(keys, pre_tokens, post_tokens),
        lamport_balances=tuple((key, pre, post) for key, pre, post in lamports),
        memo=None if tx is None else memo_of(tx),
    )


def _token_changes(
    keys: list[Pubkey],
    pre: list[UiTransactionTokenBalance],
    post: list[UiTransactionTokenBalance],
) -> tuple[TokenBalanceChange, ...]:
    """Pre and post token balances by account index: an account created in the
    transaction has no pre balance, one closed has no post balance."""
    before = {b.account_index: b for b in pre}
    after = {b.account_index: b for b in post}
    changes = []
    for index in sorted(set(before) | set(after)):
        ref = after.get(index) or before[index]
        owner = ref.owner if ref.owner is not None else Pubkey.default()
        changes.append(
            TokenBalanceChange(
                keys[index] if index < len(keys) else Pubkey.default(),
                ref.mint,
                owner,
                int(before[index].ui_token_amount.amount) if index in before else 0,
                int(after[index].ui_token_amount.amount) if index in after else 0,
            )
        )
    return tuple(changes)
