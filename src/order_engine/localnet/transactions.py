"""Transactions in: `simulateTransaction`, `sendTransaction` and `getSignatureStatuses`.

As on Solana: a send verifies the signatures (-32003), then, unless `skipPreflight`,
simulates and answers a failed simulation with -32002 and the simulation in `data`; an
unknown or expired blockhash is the simulation error `BlockhashNotFound`, a signature the
chain has executed `AlreadyProcessed` (so a duplicate send executes once). With
`skipPreflight` the signature is answered whatever becomes of the bytes (an expired
blockhash: they never land)."""

from __future__ import annotations

from typing import Any

import orjson
from solders.message import Message, MessageV0
from solders.rpc.responses import (
    GetSignatureStatusesResp,
    RpcBlockhash,
    RpcSimulateTransactionResult,
    SendTransactionResp,
    SimulateTransactionResp,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    TransactionConfirmationStatus,
    TransactionErrorFieldless,
    TransactionErrorType,
    TransactionStatus,
)

from order_engine.chain.port import Commitment, SignatureStatus
from order_engine.domain.errors import TransactionRejectedError
from order_engine.localnet import params as p
from order_engine.localnet.cluster import context
from order_engine.localnet.errors import (
    PREFLIGHT_FAILURE,
    RpcError,
    invalid_params,
    signature_verification_failure,
)
from order_engine.localnet.jsonrpc import Handler, result_of
from order_engine.localnet.node import Localnet
from order_engine.localnet.tx_errors import display, parse_error

PACKET_DATA_SIZE = 1232  # the largest transaction Solana takes
MAX_SIGNATURES = 256  # per getSignatureStatuses
STATUS_CACHE_SLOTS = 300  # without searchTransactionHistory: the recent status cache only
CONFIRMATION = {
    Commitment.PROCESSED: TransactionConfirmationStatus.Processed,
    Commitment.CONFIRMED: TransactionConfirmationStatus.Confirmed,
    Commitment.FINALIZED: TransactionConfirmationStatus.Finalized,
}


def decode_transaction(
    params: list[Any], method: str
) -> tuple[bytes, VersionedTransaction, dict[str, Any]]:
    """The transaction (its bytes, parsed) and the configuration of a send or simulate."""
    (text,) = p.positional(params, 1, method)
    cfg = p.config(params, 1)
    encoding = cfg.get("encoding", "base58")
    if not isinstance(text, str) or encoding not in {"base58", "base64"}:
        raise invalid_params("Invalid params: a transaction as base58 or base64 text")
    try:
        raw = p.b58decode(text) if encoding == "base58" else p.b64decode(text)
    except ValueError as exc:
        raise invalid_params(f"invalid {encoding} encoding: {exc}") from exc
    if len(raw) > PACKET_DATA_SIZE:
        raise invalid_params(
            f"{encoding} encoded solana_transaction::versioned::VersionedTransaction too "
            f"large: {len(raw)} bytes (max: {PACKET_DATA_SIZE} bytes)"
        )
    try:
        tx = VersionedTransaction.from_bytes(raw)
        if bytes(tx) != raw:
            raise ValueError("trailing bytes")
        tx.sanitize()
    except (ValueError, TypeError) as exc:
        raise invalid_params(f"invalid transaction: {exc}") from exc
    return raw, tx, cfg


def _with_blockhash(tx: VersionedTransaction, blockhash: Any) -> bytes:
    m = tx.message
    message: Message | MessageV0
    if isinstance(m, MessageV0):
        lookups = m.address_table_lookups
        message = MessageV0(m.header, m.account_keys, blockhash, m.instructions, lookups)
    else:
        h = m.header
        message = Message.new_with_compiled_instructions(
            h.num_required_signatures, h.num_readonly_signed_accounts,
            h.num_readonly_unsigned_accounts, m.account_keys, blockhash, m.instructions,
        )  # fmt: skip
    return bytes(VersionedTransaction.populate(message, tx.signatures))


def _refused(err: TransactionErrorType) -> RpcSimulateTransactionResult:
    return RpcSimulateTransactionResult(err, [], None, 0)


async def simulation(
    node: Localnet, raw: bytes, tx: VersionedTransaction, *, sig_verify: bool, replace: bool
) -> RpcSimulateTransactionResult:
    """What `simulateTransaction` answers for `tx` (and a preflight checks)."""
    (status,) = await node.chain.signature_statuses([str(tx.signatures[0])])
    replacement = None
    if replace:
        latest = await node.chain.latest_blockhash()
        raw = _with_blockhash(tx, latest.blockhash)
        replacement = RpcBlockhash(latest.blockhash, latest.last_valid_block_height)
    elif not node.chain.clock.valid(tx.message.recent_blockhash):
        return _refused(TransactionErrorFieldless.BlockhashNotFound)
    if status is not None:
        return _refused(TransactionErrorFieldless.AlreadyProcessed)
    sim = await node.chain.simulate(raw, sig_verify=sig_verify)
    err = None if sim.err is None else parse_error(sim.err)
    return RpcSimulateTransactionResult(
        err, list(sim.logs), None, sim.compute_units, None, None, replacement
    )


async def simulate_transaction(node: Localnet, params: list[Any]) -> Any:
    raw, tx, cfg = decode_transaction(params, "simulateTransaction")
    sig_verify, replace = p.flag(cfg, "sigVerify"), p.flag(cfg, "replaceRecentBlockhash")
    if sig_verify and replace:
        raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
    if cfg.get("accounts") is not None:
        raise invalid_params("Invalid params: `accounts` is not served by this node")
    p.commitment(cfg)
    if sig_verify and not all(tx.verify_with_results()):
        raise signature_verification_failure()
    result = await simulation(node, raw, tx, sig_verify=sig_verify, replace=replace)
    # solders' stub lacks `context`, which the class takes (and Solana answers)
    return result_of(SimulateTransactionResp(result, context(node)))  # type: ignore[call-arg]


async def send_transaction(node: Localnet, params: list[Any]) -> Any:
    raw, tx, cfg = decode_transaction(params, "sendTransaction")
    skip = p.flag(cfg, "skipPreflight")
    p.commitment({"commitment": cfg.get("preflightCommitment", "finalized")})
    if not all(tx.verify_with_results()):
        raise signature_verification_failure()
    if not skip:
        result = await simulation(node, raw, tx, sig_verify=False, replace=False)
        if result.err is not None:
            message = f"Transaction simulation failed: {display(result.err)}"
            raise RpcError(PREFLIGHT_FAILURE, message, orjson.loads(result.to_json()))
    try:
        signature = await node.chain.send(raw)
    except TransactionRejectedError:  # Solana takes them, and they never land
        signature = str(tx.signatures[0])
    return result_of(SendTransactionResp(Signature.from_string(signature)))


def _status(found: SignatureStatus | None, slot: int, search: bool) -> TransactionStatus | None:
    if found is None or (not search and slot - found.slot > STATUS_CACHE_SLOTS):
        return None
    err = None if found.err is None else parse_error(found.err)
    confirmations = None if found.commitment is Commitment.FINALIZED else slot - found.slot
    return TransactionStatus(found.slot, confirmations, err, err, CONFIRMATION[found.commitment])


async def get_signature_statuses(node: Localnet, params: list[Any]) -> Any:
    (signatures,) = p.positional(params, 1, "getSignatureStatuses")
    if not isinstance(signatures, list):
        raise invalid_params("Invalid params: expected an array of signatures")
    if len(signatures) > MAX_SIGNATURES:
        raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURES}")
    search = p.flag(p.config(params, 1), "searchTransactionHistory")
    found = await node.chain.signature_statuses([p.signature(s) for s in signatures])
    slot = node.chain.current_slot
    value = [_status(s, slot, search) for s in found]
    return result_of(GetSignatureStatusesResp(value, context(node)))


METHODS: dict[str, Handler] = {
    "simulateTransaction": simulate_transaction,
    "sendTransaction": send_transaction,
    "getSignatureStatuses": get_signature_statuses,
}
