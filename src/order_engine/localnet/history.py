"""`getSignaturesForAddress`: the latest transactions an address signed and paid for,
newest first, with their slot, error, memo ("[len] text", as Solana shows memos), block time
and confirmation status. The chain indexes fee payers only: another address (a pool, a
token account) answers an empty list."""

from __future__ import annotations

from typing import Any

from solders.rpc.responses import (
    GetSignaturesForAddressResp,
    RpcConfirmedTransactionStatusWithSignature,
)
from solders.signature import Signature

from order_engine.localnet import params as p
from order_engine.localnet.jsonrpc import Handler, result_of
from order_engine.localnet.node import Localnet
from order_engine.localnet.transactions import CONFIRMATION
from order_engine.localnet.tx_errors import parse_error

MAX_LIMIT = 1000  # Solana's cap


async def get_signatures_for_address(node: Localnet, params: list[Any]) -> Any:
    (text,) = p.positional(params, 1, "getSignaturesForAddress")
    address = p.pubkey(text)
    cfg = p.config(params, 1)
    limit = min(p.unsigned(cfg.get("limit", MAX_LIMIT), "limit"), MAX_LIMIT)
    chain = node.chain
    found = []
    for signature in chain.signatures_paid_by(address, limit):
        details = chain.details(signature)
        if details is None:
            continue
        memo = None if details.memo is None else f"[{len(details.memo)}] {details.memo}"
        err = None if details.err is None else parse_error(details.err)
        status = CONFIRMATION[chain.clock.commitment(details.slot)]
        found.append(
            RpcConfirmedTransactionStatusWithSignature(
                Signature.from_string(signature),
                details.slot,
                err,
                memo,
                details.block_time,
                status,
            )
        )
    return result_of(GetSignaturesForAddressResp(found))


METHODS: dict[str, Handler] = {"getSignaturesForAddress": get_signatures_for_address}
