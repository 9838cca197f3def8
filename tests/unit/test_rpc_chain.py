"""`RpcChain`'s transport: reads retried with backoff while the node does not answer,
RPC errors mapped into the engine's tree by their JSON-RPC code (transient vs final)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import orjson
import pytest
from solders.pubkey import Pubkey

from order_engine.adapters.rpc_chain import RpcChain
from order_engine.adapters.rpc_transport import LOOK, READ, SEND, RpcBatcher
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


def batch_node() -> tuple[RpcChain, list[object]]:
    """A node answering every call of a batch (or a lone call) with its slot: 40 + id."""
    posts: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posts.append(body)
        calls = body if isinstance(body, list) else [body]
        answers = [{"jsonrpc": "2.0", "result": 40 + c["id"], "id": c["id"]} for c in calls]
        return httpx.Response(200, json=answers if isinstance(body, list) else answers[0])

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return RpcChain("http://node/", client=client, backoff_s=0.001), posts


async def test_calls_of_one_loop_turn_share_one_post_and_each_gets_its_answer() -> None:
    rpc, posts = batch_node()
    first, second, third = await asyncio.gather(rpc.slot(), rpc.block_height(), rpc.slot())
    assert len(posts) == 1 and isinstance(posts[0], list)
    assert [c["method"] for c in posts[0]] == ["getSlot", "getBlockHeight"]  # slot asked once
    assert (first, second, third) == (40, 41, 40)
    assert rpc.round_trips == 1


async def test_a_lone_call_goes_as_itself_and_calls_in_later_turns_go_again() -> None:
    rpc, posts = batch_node()
    assert await rpc.slot() == 40
    assert await rpc.slot() == 40
    assert len(posts) == 2 and all(isinstance(p, dict) for p in posts)


async def test_calls_made_while_posts_are_out_wait_and_leave_together() -> None:
    posts: list[list[str]] = []
    release = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        posts.append([c["method"] for c in calls])
        if len(posts) == 1:
            await release.wait()  # the first POST stays out
        answers = [{"jsonrpc": "2.0", "result": 5, "id": c["id"]} for c in calls]
        return httpx.Response(200, json=answers if isinstance(body, list) else answers[0])

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    rpc = RpcChain("http://node/", client=client, max_in_flight=1)
    first = asyncio.ensure_future(rpc.slot())
    await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(c) for c in (rpc.block_height(), rpc.slot())]
    for _ in range(3):  # three more turns: the slot's POST is still out
        await asyncio.sleep(0.01)
    assert posts == [["getSlot"]]
    release.set()
    assert await first == 5 and [await c for c in later] == [5, 5]
    assert posts == [["getSlot"], ["getBlockHeight", "getSlot"]]  # a new slot: asked again


async def test_a_batch_is_cut_at_batch_max_calls() -> None:
    posts: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        posts.append(len(calls))
        result = {"context": {"slot": 1}, "value": 7}
        answers = [{"jsonrpc": "2.0", "result": result, "id": c["id"]} for c in calls]
        return httpx.Response(200, json=answers if isinstance(body, list) else answers[0])

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    rpc = RpcChain("http://node/", client=client, batch_max=2)
    keys = [Pubkey.new_unique() for _ in range(5)]
    found = await asyncio.gather(*(rpc.balance(k) for k in keys))
    assert found == [7] * 5 and sorted(posts) == [1, 2, 2]


async def test_a_batch_the_node_did_not_answer_is_retried() -> None:
    answers = [lambda: httpx.Response(503)]
    posts: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posts.append(body)
        if answers:
            return answers.pop()()
        calls = body if isinstance(body, list) else [body]
        answered = [{"jsonrpc": "2.0", "result": 9, "id": c["id"]} for c in calls]
        return httpx.Response(200, json=answered if isinstance(body, list) else answered[0])

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    rpc = RpcChain("http://node/", client=client, backoff_s=0.001, batch_max=10)
    assert list(await asyncio.gather(rpc.slot(), rpc.block_height())) == [9, 9]
    assert isinstance(posts[0], list) and len(posts) >= 2


async def test_a_call_missing_from_a_batch_answer_is_transient() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if isinstance(body, list):  # answers only the first call of a batch
            return httpx.Response(200, json=[{"jsonrpc": "2.0", "result": 1, "id": 0}])
        return httpx.Response(200, json={"jsonrpc": "2.0", "result": 2, "id": body["id"]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    rpc = RpcChain("http://node/", client=client, backoff_s=0.001)
    assert list(await asyncio.gather(rpc.slot(), rpc.block_height())) == [1, 2]


async def test_an_answer_of_the_wrong_shape_is_transient() -> None:
    rpc, calls = chain([ok('{"jsonrpc":"2.0","result":7,"id":0}')])  # a balance needs a context
    with pytest.raises(ChainUnavailableError, match="unreadable"):
        await rpc.balance(Pubkey.new_unique())
    assert len(calls) == 4  # a read: retried, then given up as transient


def sized_node(limit: int) -> tuple[RpcChain, list[int]]:
    """A node that refuses bodies over `limit` bytes with HTTP 413, as Solana's RPC does,
    and answers each send with a signature; `sizes` holds the body size of every POST."""
    sizes: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sizes.append(len(request.content))
        if len(request.content) > limit:
            return httpx.Response(413, text="request body too large")
        body = json.loads(request.content)
        calls = body if isinstance(body, list) else [body]
        answers = [{"jsonrpc": "2.0", "result": SIGNATURE, "id": c["id"]} for c in calls]
        return httpx.Response(200, json=answers if isinstance(body, list) else answers[0])

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return RpcChain("http://node/", client=client, backoff_s=0.001), sizes


SIGNATURE = "1" * 64
FULL_SIZE_TX = 1232  # bytes: the largest a Solana transaction may be


async def test_fifty_full_size_sends_in_one_turn_stay_under_the_nodes_body_limit() -> None:
    rpc, sizes = sized_node(50 * 1024)  # Solana's MAX_REQUEST_BODY_SIZE
    sent = await asyncio.gather(*(rpc.send(bytes([n]) * FULL_SIZE_TX) for n in range(50)))
    assert len(sent) == 50 and len(sizes) >= 2  # ~85 KB of sends: more than one POST
    assert max(sizes) <= 50 * 1024


async def test_a_batch_a_smaller_node_refuses_is_split_and_every_send_answered() -> None:
    rpc, sizes = sized_node(8 * 1024)  # a provider with a lower limit than Solana's
    sent = await asyncio.gather(*(rpc.send(bytes([n]) * FULL_SIZE_TX) for n in range(12)))
    assert len(sent) == 12
    assert any(s > 8 * 1024 for s in sizes)  # refused at first
    before = len(sizes)
    later = await asyncio.gather(*(rpc.send(bytes([n]) * FULL_SIZE_TX) for n in range(12)))
    assert len(later) == 12 and all(s <= 8 * 1024 for s in sizes[before:])  # learned


async def test_a_lone_call_too_large_for_the_node_is_final() -> None:
    rpc, sizes = sized_node(1024)
    with pytest.raises(TransactionRejectedError, match="413"):
        await rpc.send(b"\x01" * FULL_SIZE_TX)
    assert len(sizes) == 1  # not retried


def batch_refusing_node(refusal: Callable[[], httpx.Response]) -> tuple[RpcChain, list[object]]:
    """A node that answers a batch with `refusal` and a lone call with its slot: 40 + id."""
    posts: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posts.append(body)
        if isinstance(body, list):
            return refusal()
        return httpx.Response(200, json={"jsonrpc": "2.0", "result": 40, "id": body["id"]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return RpcChain("http://node/", client=client, backoff_s=0.001), posts


@pytest.mark.parametrize(
    "refusal",
    [lambda: httpx.Response(400, text="batch requests are not allowed"),
     lambda: httpx.Response(200, text=error(-32600, "batch requests are disabled"))],
    ids=["http-400", "invalid-request"],
)  # fmt: skip
async def test_a_node_that_takes_no_batches_gets_every_call_alone(
    refusal: Callable[[], httpx.Response],
) -> None:
    rpc, posts = batch_refusing_node(refusal)
    assert list(await asyncio.gather(rpc.slot(), rpc.block_height())) == [40, 40]
    assert isinstance(posts[0], list) and all(isinstance(p, dict) for p in posts[1:])
    before = len(posts)
    assert list(await asyncio.gather(rpc.slot(), rpc.block_height())) == [40, 40]
    assert len(posts) == before + 2 and all(isinstance(p, dict) for p in posts[before:])


async def test_a_batch_answered_by_one_transient_error_keeps_batching() -> None:
    rpc, posts = batch_refusing_node(lambda: httpx.Response(200, text=error(-32005, "behind")))
    assert list(await asyncio.gather(rpc.slot(), rpc.block_height())) == [40, 40]
    await asyncio.gather(rpc.slot(), rpc.block_height())
    assert sum(isinstance(p, list) for p in posts) == 2  # each pair went as a batch first


async def test_a_lone_call_the_node_refuses_is_final() -> None:
    rpc, calls = chain([lambda: httpx.Response(403, text="forbidden")])
    with pytest.raises(TransactionRejectedError, match="403"):
        await rpc.slot()
    assert len(calls) == 1


async def test_a_batch_puts_reads_first_then_sends_then_looks_each_in_call_order() -> None:
    """A read never holds a transaction sent in its own batch (the engine counts its own
    swaps in flight: one the read held too would count twice), and a look sent with its
    transaction comes after it."""
    posts: list[list[str]] = []

    async def node(body: bytes) -> bytes:
        calls = orjson.loads(body)
        posts.append([c["method"] for c in calls])
        return orjson.dumps([{"jsonrpc": "2.0", "result": c["id"], "id": c["id"]} for c in calls])

    batcher = RpcBatcher(node, batch_max=50)

    def body(method: str, n: int) -> str:
        return json.dumps({"jsonrpc": "2.0", "id": 0, "method": method, "params": [n]})

    calls = [
        (body("sendTransaction", 1), SEND),
        (body("getSignatureStatuses", 1), LOOK),
        (body("getMultipleAccounts", 1), READ),
        (body("sendTransaction", 2), SEND),
        (body("getTransaction", 1), LOOK),
        (body("getLatestBlockhash", 1), READ),
    ]
    answers = await asyncio.gather(*(batcher.call(text, stage) for text, stage in calls))
    assert posts == [
        [
            "getMultipleAccounts", "getLatestBlockhash", "sendTransaction", "sendTransaction",
            "getSignatureStatuses", "getTransaction",
        ]
    ]  # fmt: skip
    # each caller gets its own call's answer (its position in the batch as sent)
    assert [json.loads(a)["result"] for a in answers] == [2, 4, 0, 3, 5, 1]
