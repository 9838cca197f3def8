"""Every `Chain` implementation the contract suite runs against, each a context manager
from a `LocalChain` (the in-process chain a test made)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from order_engine.chain.local import LocalChain
from order_engine.chain.port import Chain


@asynccontextmanager
async def in_process(local: LocalChain) -> AsyncIterator[Chain]:
    yield local.chain


CHAIN_BACKENDS: dict[str, Callable[[LocalChain], AbstractAsyncContextManager[Chain]]] = {
    "in-process": in_process,
}
