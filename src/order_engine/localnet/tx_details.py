"""`getTransaction`: an executed transaction as Solana shows it (`json` or `base64`), built
from the chain's `TransactionDetails` and the signed bytes its journal keeps.

Lamport balances are exact for the wallets (system accounts) the transaction could write;
the chain does not record the other accounts' lamports per transaction, so for those pre
and post are their lamports now. Token balances list a token account with a zero amount
only when its other side is not zero (the chain does not tell a zero balance from a
missing account). Inner instructions are not recorded (`null`)."""

from __future__ import annotations

from typing import Any

import orjson
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.responses import GetTransactionResp
from solders.transaction import Legacy, VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    EncodedTransactionWithStatusMeta,
    UiAddressTableLookup,
    UiCompiledInstruction,
    UiLoadedAddresses,
    UiRawMessage,
    UiTransaction,
    UiTransactionStatusMeta,
    UiTransactionTokenBalance,
)

from order_engine.chain.balances import TOKEN_PROGRAM
from order_engine.chain.port import Commitment, TransactionDetails
from order_engine.localnet import params as p
from order_engine.localnet.accounts import decimals_of, token_amount
from order_engine.localnet.errors import invalid_params, unsupported_version
from order_engine.localnet.jsonrpc import Handler, result_of
from order_engine.localnet.node import Localnet
from order_engine.localnet.tx_errors import parse_error

RANK = {Commitment.PROCESSED: 0, Commitment.CONFIRMED: 1, Commitment.FINALIZED: 2}
TokenBalances = list[UiTransactionTokenBalance]


def ui_transaction(tx: VersionedTransaction) -> UiTransaction:
    """The transaction in `json` encoding (signatures, the raw message)."""
    m = tx.message
    instructions = [
        UiCompiledInstruction(ix.program_id_index, bytes(ix.accounts), p.b58encode(ix.data), None)
        for ix in m.instructions
    ]
    lookups = None
    if isinstance(m, MessageV0):
        lookups = [
            UiAddressTableLookup(
                t.account_key, bytes(t.writable_indexes), bytes(t.readonly_indexes)
            )
            for t in m.address_table_lookups
        ]
    raw = UiRawMessage(m.header, list(m.account_keys), m.recent_blockhash, instructions, lookups)
    return UiTransaction(list(tx.signatures), raw)


def _token_balances(
    node: Localnet, details: TransactionDetails, keys: list[Pubkey]
) -> tuple[TokenBalances, TokenBalances]:
    index = {key: i for i, key in enumerate(keys)}
    pre: TokenBalances = []
    post: TokenBalances = []
    for change in details.token_balances:
        if change.account not in index or not (change.pre or change.post):
            continue
        mint = node.chain.account(change.mint)
        decimals = decimals_of(mint) or 0
        program = TOKEN_PROGRAM if mint is None else mint.owner
        i = index[change.account]
        if change.pre:
            amount = token_amount(change.pre, decimals)
            pre.append(UiTransactionTokenBalance(i, change.mint, amount, change.owner, program))
        amount = token_amount(change.post, decimals)
        post.append(UiTransactionTokenBalance(i, change.mint, amount, change.owner, program))
    return pre, post


async def _meta(
    node: Localnet, details: TransactionDetails, keys: list[Pubkey]
) -> UiTransactionStatusMeta:
    infos = await node.chain.accounts(keys)
    known = {key: (pre, post) for key, pre, post in details.lamport_balances}
    now = [(0, 0) if info is None else (info.lamports, info.lamports) for info in infos]
    balances = [known.get(key, current) for key, current in zip(keys, now, strict=True)]
    pre_tokens, post_tokens = _token_balances(node, details, keys)
    err = None if details.err is None else parse_error(details.err)
    meta = UiTransactionStatusMeta(
        err, details.fee, [b[0] for b in balances], [b[1] for b in balances], None,
        list(details.logs), pre_tokens, post_tokens, [], UiLoadedAddresses([], []), None,
        details.compute_units,
    )  # fmt: skip
    if err is None:
        return meta
    fixed = orjson.loads(meta.to_json())  # solders writes status Ok whatever `err` is
    fixed["status"] = {"Err": fixed["err"]}
    return UiTransactionStatusMeta.from_json(orjson.dumps(fixed).decode())


def _options(params: list[Any]) -> tuple[str, Commitment, int | None]:
    if len(params) > 1 and isinstance(params[1], str):  # the legacy form: the encoding
        params = [params[0], {"encoding": params[1]}]
    cfg = p.config(params, 1)
    encoding = cfg.get("encoding", "json")
    if encoding not in {"json", "base64"}:
        raise invalid_params(
            f"Invalid params: encoding {encoding!r} is not served by this node; use json or base64"
        )
    wanted = p.commitment(cfg)
    if wanted is Commitment.PROCESSED:
        raise invalid_params("Method does not support commitment below `confirmed`")
    version = cfg.get("maxSupportedTransactionVersion")
    return encoding, wanted, None if version is None else p.unsigned(version, "version")


async def get_transaction(node: Localnet, params: list[Any]) -> Any:
    (text,) = p.positional(params, 1, "getTransaction")
    signature = p.signature(text)
    encoding, wanted, max_version = _options(params)
    details = await node.chain.transaction(signature)
    if details is None or RANK[node.chain.clock.commitment(details.slot)] < RANK[wanted]:
        return None
    raw = node.chain.signed(signature)
    if raw is None:
        return None
    tx = VersionedTransaction.from_bytes(raw)
    legacy = not isinstance(tx.message, MessageV0)
    if not legacy and max_version is None:
        raise unsupported_version(0)
    keys = list(tx.message.account_keys)
    meta = await _meta(node, details, keys)
    version = None if max_version is None else (Legacy.Legacy if legacy else 0)
    encoded = EncodedTransactionWithStatusMeta(
        ui_transaction(tx) if encoding == "json" else tx, meta, version
    )
    value = EncodedConfirmedTransactionWithStatusMeta(details.slot, encoded, details.block_time)
    return result_of(GetTransactionResp(value))


METHODS: dict[str, Handler] = {"getTransaction": get_transaction}
