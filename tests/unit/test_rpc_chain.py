"""`RpcChain`'s transport: reads retried with backoff while the node does not answer,
RPC errors mapped into the engine's tree by their JSON-RPC code (transient vs final)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from order_engine.adapters.rpc_chain import RpcChain
from order_engine.domain.errors import ChainUnavailableError, TransactionRejectedError

SLOT = '{"jsonrpc":"2.0","result":42,"id":0}'


def error(code: int, message: str) -> str:
    return json.dumps({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": 0})


def chain(answers: list[Callable[[], httpx.Response]]) -> tuple[RpcChain, list[int]]:
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return answers.pop(0)() if len(answers) > 1 else answers[0]()

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return RpcChain("http://node/", client=client, backoff_s=0.001), calls


def ok(text: str) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(200, text=text)


async def test_a_read_is_retried_until_the_node_answers() -> None:
    def refuse() -> httpx.Response:
        raise httpx.ConnectError("refused")

    rpc, calls = chain([refuse, lambda: httpx.Response(503), ok(error(-32005, "unhealthy")),
                        ok(SLOT)])  # fmt: skip
    assert await rpc.slot() == 42 and len(calls) == 4


async def test_a_node_down_for_good_is_transient_after_the_last_attempt() -> None:
    rpc, calls = chain([ok(error(-32005, "Node is unhealthy"))])
    with pytest.raises(ChainUnavailableError, match="-32005"):
        await rpc.slot()
    assert len(calls) == 4


async def test_a_bad_request_is_final_and_not_retried() -> None:
    rpc, calls = chain([ok(error(-32602, "Invalid params"))])
    with pytest.raises(TransactionRejectedError, match="-32602"):
        await rpc.slot()
    assert len(calls) == 1


async def test_a_send_is_never_retried_here() -> None:
    rpc, calls = chain([ok(error(-32005, "Node is unhealthy")), ok(SLOT)])
    with pytest.raises(ChainUnavailableError):
        await rpc.send(b"\x00" * 8)
    assert len(calls) == 1
