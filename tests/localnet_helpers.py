"""`order-engine localnet` in the test's event loop (its ASGI app through httpx, the chain
opened from settings as the command opens it), with a JSON-RPC client for it."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc import responses as r
from solders.transaction import Transaction

from order_engine.chain import spl
from order_engine.chain.wallet import WALLET_FILE, load_wallet
from order_engine.domain.tokens import TOKENS
from order_engine.localnet.app import localnet_app
from order_engine.localnet.node import Localnet, open_localnet
from order_engine.settings import Settings
from tests.chain_helpers import program_binaries

SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]
USDC_MINT = Pubkey.from_string(USDC.mint)


@dataclass
class Rpc:
    client: httpx.AsyncClient
    node: Localnet
    wallet: Keypair

    async def post(self, body: Any) -> httpx.Response:
        return await self.client.post("/", content=orjson.dumps(body))

    async def call(self, method: str, *params: Any) -> str:
        request = {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
        response = await self.post(request)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == 7, response.text
        return response.text

    async def ok(self, cls: Any, method: str, *params: Any) -> Any:
        """The parsed answer, which must not be an error."""
        text = await self.call(method, *params)
        parsed = cls.from_json(text)
        assert isinstance(parsed, cls), (method, text)
        return parsed

    async def error(self, method: str, *params: Any) -> dict[str, Any]:
        body = orjson.loads(await self.call(method, *params))
        assert "result" not in body, body
        error: dict[str, Any] = body["error"]
        return error

    async def blockhash(self) -> Hash:
        latest = await self.ok(r.GetLatestBlockhashResp, "getLatestBlockhash")
        blockhash: Hash = latest.value.blockhash
        return blockhash


def settings(data_dir: Path, **overrides: Any) -> Settings:
    defaults: dict[str, Any] = {
        "data_dir": data_dir,
        "programs_dir": program_binaries().source,
        "latency_scale": 0,
        "market_interval_s": 0,
        "rng_seed": 7,
        "_env_file": None,
    }
    return Settings(**{**defaults, **overrides})


@contextlib.asynccontextmanager
async def localnet(data_dir: Path, **overrides: Any) -> AsyncIterator[Rpc]:
    node = open_localnet(settings(data_dir, **overrides))
    node.start()
    transport = httpx.ASGITransport(app=localnet_app(node))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localnet") as client:
            yield Rpc(client, node, load_wallet(data_dir / WALLET_FILE))
    finally:
        await node.close()


def b64(wire: bytes) -> str:
    return base64.b64encode(wire).decode()


def transfer(payer: Keypair, to: Pubkey, lamports: int, blockhash: Hash) -> bytes:
    message = Message.new_with_blockhash(
        [spl.transfer_lamports(payer.pubkey(), to, lamports)], payer.pubkey(), blockhash
    )
    return bytes(Transaction([payer], message, blockhash))


SEND = {"encoding": "base64"}
SKIP = {"encoding": "base64", "skipPreflight": True}
