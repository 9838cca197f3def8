"""`order-engine localnet`: transactions over Solana JSON-RPC 2.0. Real swaps and transfers
simulated, sent (once) and read back with `getTransaction`; preflight failures, unknown
blockhashes and bad signatures answered as Solana answers them; airdrops; versioned
transactions; statuses from processed to finalized. Every answer parsed with solders."""

from __future__ import annotations

import asyncio
import base64
from decimal import Decimal
from pathlib import Path

import orjson
from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.rpc import errors as rpc_errors
from solders.rpc import responses as r
from solders.rpc.errors import RpcCustomErrorFieldless
from solders.signature import Signature
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    InstructionErrorCustom,
    TransactionConfirmationStatus,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    TransactionErrorInsufficientFundsForRent,
)

from order_engine.chain import spl
from tests.chain_helpers import chain_venues
from tests.localnet_helpers import (
    SEND,
    SKIP,
    SOL,
    USDC,
    USDC_MINT,
    Rpc,
    b64,
    localnet,
    transfer,
)


async def test_a_swap_is_simulated_sent_once_and_read_back(rpc: Rpc) -> None:
    raydium = chain_venues(rpc.node.local, rpc.wallet)[0]
    quote = await raydium.quote(SOL, USDC, Decimal(1))
    swap = await raydium.build(
        quote,
        token_in=SOL,
        token_out=USDC,
        min_amount_out=quote.amount_out * Decimal("0.99"),
        order_id="rpc-swap",
    )
    assert swap.signed is not None
    wire = swap.signed.wire
    sim = await rpc.ok(
        r.SimulateTransactionResp, "simulateTransaction", wire, {**SEND, "sigVerify": True}
    )
    assert sim.value.err is None and sim.value.units_consumed > 0
    assert any(str(raydium.program_id) in line for line in sim.value.logs)
    sent = await rpc.ok(r.SendTransactionResp, "sendTransaction", wire, SEND)
    assert str(sent.value) == swap.signature
    statuses = await rpc.ok(r.GetSignatureStatusesResp, "getSignatureStatuses", [swap.signature])
    (status,) = statuses.value
    assert status.err is None and status.confirmations is None
    assert status.confirmation_status == TransactionConfirmationStatus.Finalized
    await _read_back(rpc, swap.signature, base64.b64decode(wire))
    usdc = get_associated_token_address(rpc.wallet.pubkey(), USDC_MINT)
    held = await rpc.ok(r.GetTokenAccountBalanceResp, "getTokenAccountBalance", str(usdc))
    again = await rpc.ok(r.SendTransactionResp, "sendTransaction", wire, SKIP)
    assert str(again.value) == swap.signature
    duplicate = r.SendTransactionResp.from_json(await rpc.call("sendTransaction", wire, SEND))
    assert isinstance(duplicate, rpc_errors.SendTransactionPreflightFailureMessage)
    assert duplicate.data.err == TransactionErrorFieldless.AlreadyProcessed
    after = await rpc.ok(r.GetTokenAccountBalanceResp, "getTokenAccountBalance", str(usdc))
    assert after.value.amount == held.value.amount  # executed once


async def _read_back(rpc: Rpc, signature: str, wire: bytes) -> None:
    details = rpc.node.chain.details(signature)
    assert details is not None
    got = await rpc.ok(r.GetTransactionResp, "getTransaction", signature, {"encoding": "json"})
    tx, meta = got.value.transaction.transaction, got.value.transaction.meta
    sent = VersionedTransaction.from_bytes(wire)
    assert got.value.slot == details.slot and got.value.block_time == details.block_time
    assert tx.message.account_keys == list(sent.message.account_keys)
    assert tx.signatures == list(sent.signatures)
    assert (meta.fee, meta.compute_units_consumed, meta.err) == (
        details.fee,
        details.compute_units,
        None,
    )
    assert meta.log_messages == list(details.logs)
    payer = rpc.wallet.pubkey()
    assert meta.post_balances[0] - meta.pre_balances[0] == details.lamport_delta(payer)
    usdc_index = tx.message.account_keys.index(get_associated_token_address(payer, USDC_MINT))
    pre = {b.account_index: int(b.ui_token_amount.amount) for b in meta.pre_token_balances}
    post = {b.account_index: int(b.ui_token_amount.amount) for b in meta.post_token_balances}
    gained = post[usdc_index] - pre.get(usdc_index, 0)
    assert gained == details.token_delta(payer, USDC_MINT) > 0
    encoded = await rpc.ok(
        r.GetTransactionResp,
        "getTransaction",
        signature,
        {"encoding": "base64", "maxSupportedTransactionVersion": 0},
    )
    assert bytes(encoded.value.transaction.transaction) == wire
    assert (
        orjson.loads(
            await rpc.call("getTransaction", signature, {"maxSupportedTransactionVersion": 0})
        )["result"]["version"]
        == "legacy"
    )
    processed = await rpc.error("getTransaction", signature, {"commitment": "processed"})
    assert processed["code"] == -32602


async def test_a_failing_transaction_fails_preflight_or_on_chain(rpc: Rpc) -> None:
    wire = b64(transfer(rpc.wallet, Pubkey.new_unique(), 10**18, await rpc.blockhash()))
    refused = r.SendTransactionResp.from_json(await rpc.call("sendTransaction", wire, SEND))
    assert isinstance(refused, rpc_errors.SendTransactionPreflightFailureMessage)
    expected = TransactionErrorInstructionError(0, InstructionErrorCustom(1))
    assert refused.data.err == expected and refused.data.logs
    assert refused.message == (
        "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1"
    )
    signature = str((await rpc.ok(r.SendTransactionResp, "sendTransaction", wire, SKIP)).value)
    status = await rpc.ok(r.GetSignatureStatusesResp, "getSignatureStatuses", [signature])
    assert status.value[0].err == expected
    raw = orjson.loads(await rpc.call("getSignatureStatuses", [signature]))["result"]["value"][0]
    assert raw["status"] == {"Err": {"InstructionError": [0, {"Custom": 1}]}}
    got = await rpc.ok(r.GetTransactionResp, "getTransaction", signature)
    assert got.value.transaction.meta.err == expected
    meta = orjson.loads(await rpc.call("getTransaction", signature))["result"]["meta"]
    assert meta["status"] == {"Err": {"InstructionError": [0, {"Custom": 1}]}}
    assert meta["fee"] == 5000 and meta["preBalances"][0] - meta["postBalances"][0] == 5000


async def test_an_unknown_blockhash_is_blockhash_not_found(rpc: Rpc) -> None:
    wire = b64(transfer(rpc.wallet, Pubkey.new_unique(), 10**9, Hash.new_unique()))
    sim = await rpc.ok(r.SimulateTransactionResp, "simulateTransaction", wire, SEND)
    assert sim.value.err == TransactionErrorFieldless.BlockhashNotFound
    refused = r.SendTransactionResp.from_json(await rpc.call("sendTransaction", wire, SEND))
    assert isinstance(refused, rpc_errors.SendTransactionPreflightFailureMessage)
    assert refused.message == "Transaction simulation failed: Blockhash not found"
    accepted = await rpc.ok(r.SendTransactionResp, "sendTransaction", wire, SKIP)
    status = await rpc.ok(
        r.GetSignatureStatusesResp,
        "getSignatureStatuses",
        [str(accepted.value)],
        {"searchTransactionHistory": True},
    )
    assert status.value == [None]  # taken, never landed
    replaced = await rpc.ok(
        r.SimulateTransactionResp,
        "simulateTransaction",
        wire,
        {**SEND, "replaceRecentBlockhash": True},
    )
    assert replaced.value.err is None and replaced.value.replacement_blockhash is not None


async def test_signatures_are_verified(rpc: Rpc) -> None:
    blockhash = await rpc.blockhash()
    raw = bytearray(transfer(rpc.wallet, Pubkey.new_unique(), 10**9, blockhash))
    raw[10] ^= 1  # inside the signature
    tampered = b64(bytes(raw))
    for method, config in (
        ("sendTransaction", SKIP),
        ("simulateTransaction", {**SEND, "sigVerify": True}),
    ):
        error = await rpc.error(method, tampered, config)
        assert error == {"code": -32003, "message": "Transaction signature verification failure"}
        parsed = r.SendTransactionResp.from_json(await rpc.call(method, tampered, config))
        assert parsed == RpcCustomErrorFieldless.TransactionSignatureVerificationFailure
    ixs = [spl.transfer_lamports(rpc.wallet.pubkey(), Pubkey.new_unique(), 10**9)]
    message = Message.new_with_blockhash(ixs, rpc.wallet.pubkey(), blockhash)
    unsigned = b64(bytes(VersionedTransaction.populate(message, [Signature.default()])))
    sim = await rpc.ok(r.SimulateTransactionResp, "simulateTransaction", unsigned, SEND)
    assert sim.value.err is None  # sigVerify defaults to false, as on Solana
    both = await rpc.error(
        "simulateTransaction", unsigned, {**SEND, "sigVerify": True, "replaceRecentBlockhash": True}
    )
    assert both["code"] == -32602


async def test_an_airdrop_is_a_transaction(rpc: Rpc) -> None:
    to = Pubkey.new_unique()
    airdrop = await rpc.ok(r.RequestAirdropResp, "requestAirdrop", str(to), 2 * 10**9)
    assert (await rpc.ok(r.GetBalanceResp, "getBalance", str(to))).value == 2 * 10**9
    status = await rpc.ok(r.GetSignatureStatusesResp, "getSignatureStatuses", [str(airdrop.value)])
    assert status.value[0] is not None and status.value[0].err is None
    got = await rpc.ok(r.GetTransactionResp, "getTransaction", str(airdrop.value))
    assert to in got.value.transaction.transaction.message.account_keys
    dust = await rpc.ok(r.RequestAirdropResp, "requestAirdrop", str(Pubkey.new_unique()), 1)
    failed = await rpc.ok(r.GetSignatureStatusesResp, "getSignatureStatuses", [str(dust.value)])
    assert isinstance(failed.value[0].err, TransactionErrorInsufficientFundsForRent)
    assert (await rpc.error("requestAirdrop", str(to), 0))["code"] == -32602


async def test_a_versioned_transaction_needs_max_supported_version(rpc: Rpc) -> None:
    payer = rpc.wallet
    ixs = [spl.transfer_lamports(payer.pubkey(), Pubkey.new_unique(), 10**9)]
    message = MessageV0.try_compile(payer.pubkey(), ixs, [], await rpc.blockhash())
    wire = bytes(VersionedTransaction(message, [payer]))
    sent = await rpc.ok(r.SendTransactionResp, "sendTransaction", b64(wire), SEND)
    error = r.GetTransactionResp.from_json(await rpc.call("getTransaction", str(sent.value)))
    assert isinstance(error, rpc_errors.UnsupportedTransactionVersionMessage)
    config = {"maxSupportedTransactionVersion": 0}
    got = orjson.loads(await rpc.call("getTransaction", str(sent.value), config))["result"]
    assert got["version"] == 0 and got["transaction"]["message"]["addressTableLookups"] == []
    assert isinstance(
        r.GetTransactionResp.from_json(
            orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": got}).decode()
        ),
        r.GetTransactionResp,
    )


async def test_statuses_move_from_processed_to_finalized(tmp_path: Path) -> None:
    async with localnet(tmp_path, latency_scale=0.05) as rpc:  # 20 ms slots
        wire = b64(transfer(rpc.wallet, Pubkey.new_unique(), 10**9, await rpc.blockhash()))
        signature = str((await rpc.ok(r.SendTransactionResp, "sendTransaction", wire, SKIP)).value)
        seen: list[TransactionConfirmationStatus] = []
        checked = False
        deadline = asyncio.get_running_loop().time() + 10
        while asyncio.get_running_loop().time() < deadline:
            (status,) = (
                await rpc.ok(r.GetSignatureStatusesResp, "getSignatureStatuses", [signature])
            ).value
            if status is not None:
                seen.append(status.confirmation_status)
                if status.confirmation_status == TransactionConfirmationStatus.Finalized:
                    assert status.confirmations is None
                    break
                assert status.confirmations is not None
                if status.confirmation_status == TransactionConfirmationStatus.Confirmed and (
                    status.confirmations < 20 and not checked  # far from finalized
                ):
                    checked = True
                    unfinal = await rpc.ok(r.GetTransactionResp, "getTransaction", signature)
                    assert unfinal.value is None  # the default commitment is finalized
                    confirmed = {"commitment": "confirmed"}
                    got = await rpc.ok(r.GetTransactionResp, "getTransaction", signature, confirmed)
                    assert got.value is not None
            await asyncio.sleep(0.005)
        order = [
            TransactionConfirmationStatus.Processed,
            TransactionConfirmationStatus.Confirmed,
            TransactionConfirmationStatus.Finalized,
        ]
        assert seen[-1] == TransactionConfirmationStatus.Finalized and checked
        assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
        final = await rpc.ok(r.GetTransactionResp, "getTransaction", signature)
        assert final.value is not None
