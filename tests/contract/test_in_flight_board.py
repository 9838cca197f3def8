"""Contract of `InFlightBoard`: every implementation in `IMPLEMENTATIONS` must pass it.

A backend gives boards as separate processes would hold them (in memory: boards on one
shared dict). A board's own writes travel in the background, so a reader asks again until
it sees them (`seen`), within a deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from order_engine.adapters.redis_client import redis_client
from order_engine.adapters.redis_inflight import RedisInFlightBoard
from order_engine.venues.chain.inflight_board import (
    InFlightBoard,
    LocalInFlightBoard,
    board_key,
)
from tests.services import delete_prefixed_keys, require_redis_url

D = Decimal
SELL, BUY = ("SOL", "USDC"), ("USDC", "SOL")
M_SELL, M_BUY, R_SELL = (
    board_key("meteora", SELL),
    board_key("meteora", BUY),
    board_key("raydium", SELL),
)


class Backend:
    def __init__(self) -> None:
        self.shared: dict[int, dict[str, Decimal]] = {}
        self.boards: list[InFlightBoard] = []

    def process(self) -> InFlightBoard:
        board = LocalInFlightBoard(self.shared)
        self.boards.append(board)
        return board

    async def close(self) -> None:
        for board in self.boards:
            await board.close()


class _RedisBackend(Backend):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url, self.prefix = url, f"oe-test-{uuid.uuid4().hex[:12]}"

    def process(self) -> InFlightBoard:
        board = RedisInFlightBoard(self.url, prefix=self.prefix, max_age_s=0.0)
        self.boards.append(board)
        return board

    async def close(self) -> None:
        await super().close()
        await delete_prefixed_keys(self.url, self.prefix)


IMPLEMENTATIONS = [
    pytest.param(Backend, id="memory"),
    pytest.param(lambda: _RedisBackend(require_redis_url()), id="redis"),
]


@pytest.fixture(params=IMPLEMENTATIONS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    factory: Callable[[], Backend] = request.param
    made = factory()
    yield made
    await made.close()


async def seen(board: InFlightBoard, expected: dict[str, Decimal]) -> dict[str, Decimal]:
    """What `board` reads of the others for the keys of `expected`, once it matches (or at
    the deadline: the caller's assertion then shows the difference)."""
    deadline = time.monotonic() + 2.0
    while True:
        await board.fresh()
        got = {key: board.others(key) for key in expected}
        if got == expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.005)


async def test_a_process_sees_the_others_totals_not_its_own(backend: Backend) -> None:
    a, b = backend.process(), backend.process()
    a.publish("meteora", {SELL: D("12.5"), BUY: D("3000")})
    assert await seen(b, {M_SELL: D("12.5"), M_BUY: D("3000"), R_SELL: D(0)}) == {
        M_SELL: D("12.5"), M_BUY: D("3000"), R_SELL: D(0),
    }  # fmt: skip
    await a.fresh()
    assert a.others(M_SELL) == 0  # its own swaps are counted by its venues, not here


async def test_the_processes_totals_add_up_and_a_publish_replaces_its_venues(
    backend: Backend,
) -> None:
    a, b, reader = backend.process(), backend.process(), backend.process()
    a.publish("meteora", {SELL: D("10")})
    a.publish("raydium", {SELL: D("1")})
    b.publish("meteora", {SELL: D("2.5")})
    assert await seen(reader, {M_SELL: D("12.5"), R_SELL: D("1")}) == {
        M_SELL: D("12.5"), R_SELL: D("1"),
    }  # fmt: skip
    a.publish("meteora", {BUY: D("7")})  # its SOL>USDC swap on meteora ended
    expected = {M_SELL: D("2.5"), M_BUY: D("7"), R_SELL: D("1")}
    assert await seen(reader, expected) == expected


async def test_empty_totals_and_a_closed_board_count_for_nobody(backend: Backend) -> None:
    a, b, reader = backend.process(), backend.process(), backend.process()
    a.publish("meteora", {SELL: D("4")})
    b.publish("meteora", {SELL: D("5")})
    assert await seen(reader, {M_SELL: D("9")}) == {M_SELL: D("9")}
    a.publish("meteora", {SELL: D(0)})
    assert await seen(reader, {M_SELL: D("5")}) == {M_SELL: D("5")}
    await b.close()
    assert await seen(reader, {M_SELL: D(0)}) == {M_SELL: D(0)}


async def test_fresh_never_raises_and_unknown_keys_count_zero(backend: Backend) -> None:
    board = backend.process()
    await board.fresh()
    await board.fresh()
    assert board.others(board_key("nowhere", SELL)) == 0


# --- Redis only ----------------------------------------------------------------------------


async def test_a_process_gone_without_clearing_stops_counting_after_stale_s() -> None:
    url, prefix = require_redis_url(), f"oe-test-{uuid.uuid4().hex[:12]}"
    client = redis_client(url, decode_responses=True)
    board = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0, stale_s=10.0)
    try:
        now_ms = round(time.time() * 1000)
        for process, at in (("fresh", now_ms - 1_000), ("gone", now_ms - 11_000)):
            entry = {"at": at, "totals": {M_SELL: "3"}}
            await client.hset(f"{prefix}:inflight", process, orjson.dumps(entry).decode())
        await client.hset(f"{prefix}:inflight", "garbled", "{not json")
        await board.fresh()
        assert board.others(M_SELL) == D("3")  # the stale and the unreadable are skipped
    finally:
        await board.close()
        await client.aclose()
        await delete_prefixed_keys(url, prefix)


async def test_an_unreachable_redis_counts_nobody_else_and_raises_nothing() -> None:
    board = RedisInFlightBoard("redis://127.0.0.1:1", max_age_s=0.0, timeout_s=0.2)
    board.publish("meteora", {SELL: D("1")})
    await board.fresh()
    assert board.others(M_SELL) == 0
    await board.close()


async def test_the_shared_hash_expires_if_every_process_stops_writing() -> None:
    url, prefix = require_redis_url(), f"oe-test-{uuid.uuid4().hex[:12]}"
    client = redis_client(url, decode_responses=True)
    writer = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0)
    reader = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0)
    try:
        writer.publish("meteora", {SELL: D("2")})
        assert await seen(reader, {M_SELL: D("2")}) == {M_SELL: D("2")}
        deadline, ttl = time.monotonic() + 2.0, -1
        while ttl < 0 and time.monotonic() < deadline:  # set right after the field
            ttl = await client.pttl(f"{prefix}:inflight")
            await asyncio.sleep(0.005)
        assert 0 < ttl <= 60_000
    finally:
        for board in (writer, reader):
            await board.close()
        await client.aclose()
        await delete_prefixed_keys(url, prefix)


async def test_a_cancelled_wait_for_the_others_leaves_the_other_waiters_alone() -> None:
    """Several pools priced together share one read of the board; one of them given up on
    (its quote timed out) must not cancel the read the others wait for."""

    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            await reader.read()  # a Redis that never answers
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    board = RedisInFlightBoard(f"redis://127.0.0.1:{port}", max_age_s=0.0, timeout_s=0.3)
    try:
        given_up = asyncio.ensure_future(_wait(board))
        waiting = asyncio.ensure_future(_wait(board))
        await asyncio.sleep(0.05)
        given_up.cancel()
        await asyncio.wait_for(waiting, 2.0)  # ends with the read's timeout, not cancelled
        assert board.others(M_SELL) == 0 and given_up.cancelled()
    finally:
        await board.close()
        server.close()
        for writer in connections:
            writer.close()
            await writer.wait_closed()
        await server.wait_closed()


async def _wait(board: InFlightBoard) -> None:
    await board.fresh()


async def test_a_failed_write_is_tried_again_until_the_others_see_the_latest() -> None:
    url, prefix = require_redis_url(), f"oe-test-{uuid.uuid4().hex[:12]}"
    writer = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0)
    reader = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0)
    send, failures = writer._send, [1]

    async def blips_once(mine: dict[str, Decimal]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise RedisConnectionError("a blip")
        await send(mine)

    writer._send = blips_once  # type: ignore[method-assign]
    try:
        writer.publish("meteora", {SELL: D("6")})
        assert await seen(reader, {M_SELL: D("6")}) == {M_SELL: D("6")}
        assert failures == [0]
    finally:
        for board in (writer, reader):
            await board.close()
        await delete_prefixed_keys(url, prefix)


async def test_a_closed_board_writes_nothing_more() -> None:
    """A swap whose confirmation ends while its worker stops must not put the process's
    field back after the stop cleared it."""
    url, prefix = require_redis_url(), f"oe-test-{uuid.uuid4().hex[:12]}"
    client = redis_client(url, decode_responses=True)
    board = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0)
    try:
        board.publish("meteora", {SELL: D("1")})
        await board.close()
        board.publish("meteora", {SELL: D("2")})
        await asyncio.sleep(0.1)
        assert await client.hgetall(f"{prefix}:inflight") == {}
    finally:
        await client.aclose()
        await delete_prefixed_keys(url, prefix)


async def test_swaps_in_flight_longer_than_stale_s_keep_counting_for_the_others() -> None:
    """A swap may wait for its chain far longer than `stale_s` (a congested cluster): while
    a process still has totals, it writes them again before they go stale, so the others
    keep pricing behind them; once it has none, nothing is written any more."""
    url, prefix = require_redis_url(), f"oe-test-{uuid.uuid4().hex[:12]}"
    client = redis_client(url, decode_responses=True)
    writer = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0, stale_s=0.6)
    reader = RedisInFlightBoard(url, prefix=prefix, max_age_s=0.0, stale_s=0.6)
    try:
        writer.publish("meteora", {SELL: D("2")})
        assert await seen(reader, {M_SELL: D("2")}) == {M_SELL: D("2")}
        for _ in range(4):  # 1.8 s: three times `stale_s`, with no change to publish
            await asyncio.sleep(0.45)
            await reader.fresh()
            assert reader.others(M_SELL) == D("2")
        writer.publish("meteora", {})
        assert await seen(reader, {M_SELL: D(0)}) == {M_SELL: D(0)}
        await asyncio.sleep(0.7)
        assert await client.hget(f"{prefix}:inflight", writer._id) is None
    finally:
        for board in (writer, reader):
            await board.close()
        await client.aclose()
        await delete_prefixed_keys(url, prefix)
