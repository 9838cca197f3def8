"""`order-engine localnet`: the local chain over Solana JSON-RPC 2.0, read. Every answer is
parsed with the matching `solders.rpc.responses` class (so its shape is Solana's): the
cluster, accounts (programs as upgradeable-loader accounts), Solana's errors for bad
requests, batches, injected faults, and a restart on the same data directory."""

from __future__ import annotations

import asyncio
import base64
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from solders.pubkey import Pubkey
from solders.rpc import errors as rpc_errors
from solders.rpc import responses as r
from solders.token.associated import get_associated_token_address
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from order_engine.chain.balances import TOKEN_PROGRAM
from order_engine.chain.programs import PROGRAM_FILES, elf_from_programdata
from order_engine.localnet.app import DirectRpc
from order_engine.programs_cli import UPGRADEABLE_LOADER
from tests.chain_helpers import program_binaries
from tests.localnet_helpers import (
    SEND,
    SKIP,
    USDC,
    USDC_MINT,
    Rpc,
    b64,
    localnet,
    transfer,
)


async def test_the_cluster_answers(rpc: Rpc) -> None:
    assert (await rpc.ok(r.GetHealthResp, "getHealth")).value == "ok"
    assert (await rpc.ok(r.GetVersionResp, "getVersion")).value.solana_core
    genesis = await rpc.ok(r.GetGenesisHashResp, "getGenesisHash")
    assert str(genesis.value) == rpc.node.genesis_hash
    assert bytes(genesis.value).hex() == rpc.node.chain.genesis_hash
    slot = (await rpc.ok(r.GetSlotResp, "getSlot")).value
    assert (
        await rpc.ok(r.GetBlockHeightResp, "getBlockHeight", {"commitment": "confirmed"})
    ).value >= slot
    latest = await rpc.ok(r.GetLatestBlockhashResp, "getLatestBlockhash")
    assert latest.context.slot >= slot
    assert latest.value.last_valid_block_height == latest.context.slot + 150
    epoch = await rpc.ok(r.GetEpochInfoResp, "getEpochInfo")
    assert epoch.value.absolute_slot >= slot and epoch.value.slots_in_epoch == 432_000
    rent = await rpc.ok(
        r.GetMinimumBalanceForRentExemptionResp, "getMinimumBalanceForRentExemption", 165
    )
    assert rent.value == rpc.node.chain.rent(165) > 0
    behind = await rpc.error("getSlot", {"minContextSlot": 10**9})
    assert behind["code"] == -32016 and behind["data"]["contextSlot"] >= slot


async def test_accounts_read_as_solana_shows_them(rpc: Rpc) -> None:
    wallet, missing = rpc.wallet.pubkey(), Pubkey.new_unique()
    usdc_account = get_associated_token_address(wallet, USDC_MINT)
    balance = await rpc.ok(r.GetBalanceResp, "getBalance", str(wallet))
    assert balance.value == await rpc.node.chain.balance(wallet) >= 100_000 * 10**9
    info = await rpc.ok(r.GetAccountInfoResp, "getAccountInfo", str(usdc_account), SEND)
    held = rpc.node.chain.account(usdc_account)
    assert held is not None and info.value is not None
    assert (info.value.owner, info.value.data, info.value.lamports) == (
        TOKEN_PROGRAM,
        held.data,
        held.lamports,
    )
    raw = orjson.loads(await rpc.call("getAccountInfo", str(usdc_account), SEND))["result"]
    assert raw["value"]["space"] == 165 and raw["value"]["rentEpoch"] == 2**64 - 1
    keys = [str(wallet), str(missing), str(usdc_account)]
    many = await rpc.ok(r.GetMultipleAccountsResp, "getMultipleAccounts", keys, SEND)
    assert many.value[1] is None and many.value[2].data == held.data
    assert many.value[0].owner == Pubkey.default()
    window = {"encoding": "base64", "dataSlice": {"offset": 32, "length": 32}}
    sliced = await rpc.ok(r.GetAccountInfoResp, "getAccountInfo", str(usdc_account), window)
    assert Pubkey.from_bytes(sliced.value.data) == wallet
    assert (await rpc.ok(r.GetAccountInfoResp, "getAccountInfo", str(missing))).value is None
    amount = await rpc.ok(r.GetTokenAccountBalanceResp, "getTokenAccountBalance", str(usdc_account))
    assert amount.value.amount == str(int.from_bytes(held.data[64:72], "little"))
    assert amount.value.decimals == USDC.decimals
    assert Decimal(amount.value.ui_amount_string) == Decimal(amount.value.amount).scaleb(-6)
    parsed = await rpc.error("getAccountInfo", str(usdc_account), {"encoding": "jsonParsed"})
    assert parsed["code"] == -32602 and "base64" in parsed["message"]
    not_token = await rpc.error("getTokenAccountBalance", str(wallet))
    assert not_token == {"code": -32602, "message": "Invalid param: not a Token account"}
    too_many = await rpc.error("getMultipleAccounts", [str(missing)] * 101)
    assert too_many["code"] == -32602


async def test_program_accounts_with_filters(rpc: Rpc) -> None:
    wallet = rpc.wallet.pubkey()
    owned = {
        str(k)
        for k, a in await rpc.node.chain.program_accounts(TOKEN_PROGRAM)
        if len(a.data) == 165 and a.data[32:64] == bytes(wallet)
    }
    assert str(get_associated_token_address(wallet, USDC_MINT)) in owned
    by_owner = {"memcmp": {"offset": 32, "bytes": str(wallet)}}
    config = {"encoding": "base64", "filters": [{"dataSize": 165}, by_owner]}
    found = await rpc.ok(r.GetProgramAccountsResp, "getProgramAccounts", str(TOKEN_PROGRAM), config)
    assert {str(a.pubkey) for a in found.value} == owned
    as_b64 = {"memcmp": {"offset": 32, "bytes": b64(bytes(wallet)), "encoding": "base64"}}
    with_context = {**config, "filters": [as_b64], "withContext": True}
    again = await rpc.ok(
        r.GetProgramAccountsWithContextResp, "getProgramAccounts", str(TOKEN_PROGRAM), with_context
    )
    assert {str(a.pubkey) for a in again.value} == owned and again.context.slot >= 1
    too_many = await rpc.error(
        "getProgramAccounts", str(TOKEN_PROGRAM), {"filters": [{"dataSize": 1}] * 5}
    )
    assert too_many["code"] == -32602


async def test_programs_are_upgradeable_loader_accounts(rpc: Rpc) -> None:
    for program_id in PROGRAM_FILES.values():
        program = await rpc.ok(r.GetAccountInfoResp, "getAccountInfo", str(program_id), SEND)
        assert program.value.owner == UPGRADEABLE_LOADER and program.value.executable
        data = program.value.data
        programdata = Pubkey.find_program_address([bytes(program_id)], UPGRADEABLE_LOADER)[0]
        assert struct.unpack_from("<I", data)[0] == 2 and data[4:36] == bytes(programdata)
        found = await rpc.ok(r.GetAccountInfoResp, "getAccountInfo", str(programdata), SEND)
        assert found.value.owner == UPGRADEABLE_LOADER
        assert struct.unpack_from("<I", found.value.data)[0] == 3 and found.value.data[12] == 0
        assert elf_from_programdata(found.value.data) == program_binaries().binaries[program_id]


async def test_bad_requests_get_solana_errors(rpc: Rpc) -> None:
    def parsed(text: str) -> Any:
        return r.GetSlotResp.from_json(text)

    assert isinstance(parsed(await rpc.call("getNothing")), rpc_errors.MethodNotFoundMessage)
    garbage = await rpc.client.post("/", content=b"{not json")
    assert isinstance(parsed(garbage.text), rpc_errors.ParseErrorMessage)
    assert garbage.json()["id"] is None
    wrong = await rpc.post({"jsonrpc": "1.0", "id": 3, "method": "getSlot"})
    assert isinstance(parsed(wrong.text), rpc_errors.InvalidRequestMessage)
    assert wrong.json()["id"] == 3
    empty = await rpc.post([])
    assert isinstance(parsed(empty.text), rpc_errors.InvalidRequestMessage)
    by_name = await rpc.post({"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": {"a": 1}})
    assert by_name.json()["error"]["code"] == -32602
    bad: dict[str, list[Any]] = {
        "getAccountInfo": ["not-a-key"],
        "getBalance": [],
        "sendTransaction": ["%%%", SEND],
        "simulateTransaction": [b64(b"\x01\x02\x03"), SEND],
        "getSignatureStatuses": [["nope"]],
        "requestAirdrop": [str(Pubkey.new_unique()), -1],
    }
    for method, params in bad.items():
        error = parsed(await rpc.call(method, *params))
        assert isinstance(error, rpc_errors.InvalidParamsMessage), (method, error)
    too_big = await rpc.client.post("/", content=b" " * 60_000)
    assert too_big.status_code == 413


async def test_a_batch_is_answered_in_order(rpc: Rpc) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 2, "method": "getNothing"},
        {"jsonrpc": "2.0", "method": "getSlot"},  # a notification: no answer
        {
            "jsonrpc": "2.0",
            "id": "three",
            "method": "getBalance",
            "params": [str(rpc.wallet.pubkey())],
        },
        17,
    ]
    answers = (await rpc.post(batch)).json()
    assert [a["id"] for a in answers] == [1, 2, "three", None]
    assert isinstance(r.GetSlotResp.from_json(orjson.dumps(answers[0]).decode()), r.GetSlotResp)
    assert answers[1]["error"]["code"] == -32601 and answers[3]["error"]["code"] == -32600
    assert isinstance(
        r.GetBalanceResp.from_json(orjson.dumps(answers[2]).decode()), r.GetBalanceResp
    )
    many = await asyncio.gather(*(rpc.call("getLatestBlockhash") for _ in range(50)))
    assert all(
        isinstance(r.GetLatestBlockhashResp.from_json(t), r.GetLatestBlockhashResp) for t in many
    )


async def test_injected_faults_are_transient_errors(tmp_path: Path) -> None:
    async with localnet(tmp_path, chain_read_error_rate=1.0, chain_send_error_rate=1.0) as rpc:
        unhealthy = r.GetSlotResp.from_json(await rpc.call("getSlot"))
        assert isinstance(unhealthy, rpc_errors.NodeUnhealthyMessage)
        assert (await rpc.error("getHealth"))["code"] == -32005
        assert (await rpc.client.get("/health")).text == "unknown"
        assert isinstance(
            await rpc.ok(r.GetGenesisHashResp, "getGenesisHash"), r.GetGenesisHashResp
        )
        wire = b64(transfer(rpc.wallet, Pubkey.new_unique(), 10**9, rpc.node.chain.blockhash_now()))
        assert (await rpc.error("sendTransaction", wire, SKIP))["code"] == -32005


async def test_a_restart_keeps_accounts_and_signatures(tmp_path: Path) -> None:
    to = Pubkey.new_unique()
    async with localnet(tmp_path) as rpc:
        genesis = rpc.node.genesis_hash
        wire = b64(transfer(rpc.wallet, to, 3 * 10**9, await rpc.blockhash()))
        sent = str((await rpc.ok(r.SendTransactionResp, "sendTransaction", wire, SEND)).value)
        airdrop = str((await rpc.ok(r.RequestAirdropResp, "requestAirdrop", str(to), 10**9)).value)
        before = (await rpc.ok(r.GetBalanceResp, "getBalance", str(rpc.wallet.pubkey()))).value
    async with localnet(tmp_path) as rpc:
        assert rpc.node.local.restored and rpc.node.genesis_hash == genesis
        assert (await rpc.ok(r.GetBalanceResp, "getBalance", str(to))).value == 4 * 10**9
        assert (
            await rpc.ok(r.GetBalanceResp, "getBalance", str(rpc.wallet.pubkey()))
        ).value == before
        history = {"searchTransactionHistory": True}
        statuses = await rpc.ok(
            r.GetSignatureStatusesResp, "getSignatureStatuses", [sent, airdrop], history
        )
        assert all(s is not None and s.err is None for s in statuses.value)
        got = await rpc.ok(r.GetTransactionResp, "getTransaction", sent, {"encoding": "base64"})
        assert bytes(got.value.transaction.transaction) == base64.b64decode(wire)


async def test_a_browsers_post_gets_cors_headers_and_the_same_answer(rpc: Rpc) -> None:
    """A POST without `Origin` takes the direct path, a browser's through the CORS
    middleware: both get the same JSON-RPC answer; only the browser's carries CORS."""
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "getGenesisHash"})
    plain = await rpc.client.post("/", content=body)
    browser = await rpc.client.post("/", content=body, headers={"Origin": "http://wallet.app"})
    assert plain.status_code == browser.status_code == 200
    assert plain.json() == browser.json() and "result" in plain.json()
    assert plain.headers["content-type"] == browser.headers["content-type"]
    assert "access-control-allow-origin" not in plain.headers
    assert browser.headers["access-control-allow-origin"] == "*"
    preflight = await rpc.client.options(
        "/", headers={"Origin": "http://wallet.app", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200
    too_big = await rpc.client.post("/", content=b" " * (50 * 1024 + 1))
    assert too_big.status_code == 413


async def test_an_unhandled_error_on_the_direct_path_is_a_500_not_a_dropped_request() -> None:
    async def broken(_request: Request) -> Response:
        raise RuntimeError("a bug")

    app = DirectRpc(Starlette(), broken)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localnet") as client:
        answer = await client.post("/", content=b"{}")
    assert answer.status_code == 500
