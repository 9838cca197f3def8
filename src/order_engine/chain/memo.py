"""The SPL Memo program: every swap carries `order:<id>`, so the chain's own history tells
which transactions an order made (and that two orders' equal swaps differ). The background
market's trades carry `market`, which no order's memo is."""

from __future__ import annotations

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
ORDER_PREFIX = "order:"
MARKET_MEMO = "market"


def order_memo(order_id: str) -> Instruction:
    return Instruction(MEMO_PROGRAM, f"{ORDER_PREFIX}{order_id}".encode(), [])


def market_memo(seq: int) -> Instruction:
    """`market:<seq>`: the background market's trade number `seq` (each its own
    transaction, even when two trades are the same swap in the same slot)."""
    return Instruction(MEMO_PROGRAM, f"{MARKET_MEMO}:{seq}".encode(), [])


def memo_of(tx: VersionedTransaction) -> str | None:
    """The first memo a transaction carries, if any."""
    keys = tx.message.account_keys
    for ix in tx.message.instructions:
        if keys[ix.program_id_index] == MEMO_PROGRAM:
            return bytes(ix.data).decode(errors="replace")
    return None
