"""Every `Chain` implementation the contract suite runs against, each a context manager
from a `LocalChain` (the in-process chain a test made): the chain itself, and the same
chain served by `order-engine localnet`'s app and read through `RpcChain`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from solders.pubkey import Pubkey

from order_engine.adapters.rpc_chain import RpcChain
from order_engine.chain.genesis import derived_keypair
from order_engine.chain.local import LocalChain
from order_engine.chain.port import Chain
from order_engine.localnet.app import localnet_app
from order_engine.localnet.node import Localnet
from tests.chain_helpers import program_binaries

URL = "http://localnet/"


@asynccontextmanager
async def in_process(local: LocalChain) -> AsyncIterator[Chain]:
    yield local.chain


@asynccontextmanager
async def over_rpc(local: LocalChain) -> AsyncIterator[Chain]:
    node = Localnet(local, program_binaries(), Pubkey.default(), None, derived_keypair(7, "faucet"))
    transport = httpx.ASGITransport(app=localnet_app(node))
    client = httpx.AsyncClient(transport=transport, timeout=5)
    chain = await RpcChain.connect(URL, client=client)
    try:
        yield chain
    finally:
        await chain.close()


CHAIN_BACKENDS: dict[str, Callable[[LocalChain], AbstractAsyncContextManager[Chain]]] = {
    "in-process": in_process,
    "rpc-localnet": over_rpc,
}
