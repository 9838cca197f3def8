"""Contract of `LaunchBoard`: every implementation in `IMPLEMENTATIONS` must pass it.

A backend gives the board under test and `peer()`: another board on the same record, as
another process would hold it (for the in-memory board, which is one process, the same one).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from order_engine.adapters.memory_launches import InMemoryLaunchBoard
from order_engine.adapters.redis_launches import RedisLaunchBoard
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.domain.launches import Launch
from order_engine.engine.ports import LaunchBoard
from tests.services import delete_prefixed_keys, require_redis_url
from tests.tcp_outage import TcpOutage

WAIT_S = 5.0  # the bound on "a listener hears of it"


class Backend:
    """The board under test, and `peer()`: another board on the same record, as another
    process holds it (the in-memory board is one process: the same board)."""

    def __init__(self, board: LaunchBoard) -> None:
        self.board = board

    async def peer(self) -> LaunchBoard:
        return self.board

    async def close(self) -> None:
        await self.board.close()


class _RedisBackend(Backend):
    """Boards under a unique key prefix whose keys are deleted on close."""

    def __init__(self, url: str) -> None:
        self.url, self.prefix = url, f"oe-test-{uuid.uuid4().hex[:12]}"
        self.boards: list[RedisLaunchBoard] = []
        super().__init__(self.open())

    def open(self, url: str | None = None) -> RedisLaunchBoard:
        board = RedisLaunchBoard(url or self.url, prefix=self.prefix)
        self.boards.append(board)
        return board

    async def peer(self) -> LaunchBoard:
        return self.open()

    async def close(self) -> None:
        for board in self.boards:
            await board.close()
        await delete_prefixed_keys(self.url, self.prefix)


IMPLEMENTATIONS = [
    pytest.param(lambda: Backend(InMemoryLaunchBoard()), id="memory"),
    pytest.param(lambda: _RedisBackend(require_redis_url()), id="redis"),
]


@pytest.fixture(params=IMPLEMENTATIONS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    build: Callable[[], Backend] = request.param
    instance = build()
    yield instance
    await instance.close()


@pytest.fixture
async def redis() -> AsyncIterator[_RedisBackend]:
    instance = _RedisBackend(require_redis_url())
    yield instance
    await instance.close()


class Heard:
    """A listener that keeps what it hears (and raises on the symbols in `fail_on`)."""

    def __init__(self, calls: list[tuple[str, str]] | None = None, name: str = "") -> None:
        self.launches: list[Launch] = []
        self.fail_on: set[str] = set()
        self._calls, self._name = calls, name
        self._changed = asyncio.Event()

    async def __call__(self, launch: Launch) -> None:
        self.launches.append(launch)
        if self._calls is not None:
            self._calls.append((self._name, launch.symbol))
        self._changed.set()
        if launch.symbol in self.fail_on:
            raise RuntimeError(f"listener failed on {launch.symbol}")

    @property
    def symbols(self) -> list[str]:
        return [launch.symbol for launch in self.launches]

    async def wait_for(self, count: int) -> list[str]:
        async with asyncio.timeout(WAIT_S):
            while len(self.launches) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.symbols


def launch(symbol: str, price: str = "0.000012345678901234567", ts_ms: int = 1) -> Launch:
    depth, opened_ms = Decimal("250000.50"), 1_700_000_000_000 + ts_ms
    return Launch(symbol, f"{symbol}mint", 6, "raydium", "SOL", Decimal(price), depth, opened_ms)


async def test_a_launch_round_trips_exactly(backend: Backend) -> None:
    assert await backend.board.launches() == []
    assert await backend.board.announce(launch("PEPE2"))
    peer = await backend.peer()
    assert await peer.launches() == [launch("PEPE2")]
    got = (await backend.board.launches())[0]
    assert (got.price, got.depth_usd) == (Decimal("0.000012345678901234567"), Decimal("250000.50"))
    await backend.board.ping()


async def test_a_symbol_launches_once(backend: Backend) -> None:
    assert await backend.board.announce(launch("DOGX", price="1.5"))
    peer = await backend.peer()
    assert not await peer.announce(launch("DOGX", price="9", ts_ms=2))
    assert not await backend.board.announce(launch("DOGX", price="1.5"))
    assert await backend.board.launches() == [launch("DOGX", price="1.5")]


async def test_launches_are_oldest_first(backend: Backend) -> None:
    peer = await backend.peer()
    for index, symbol in enumerate(["ZED", "ALPHA", "MID"]):
        assert await (peer if index % 2 else backend.board).announce(launch(symbol))
    assert [x.symbol for x in await backend.board.launches()] == ["ZED", "ALPHA", "MID"]


async def test_listeners_here_and_in_another_process_hear_a_launch(backend: Backend) -> None:
    here, there = Heard(), Heard()
    await backend.board.listen(here)
    await (await backend.peer()).listen(there)
    assert await backend.board.announce(launch("NEWT"))
    assert await here.wait_for(1) == ["NEWT"]
    assert await there.wait_for(1) == ["NEWT"]
    assert there.launches == [launch("NEWT")]


async def test_listeners_hear_launches_in_order_once_each(backend: Backend) -> None:
    calls: list[tuple[str, str]] = []
    first, second = Heard(calls, "first"), Heard(calls, "second")
    await backend.board.listen(first)
    await backend.board.listen(second)
    peer = await backend.peer()
    assert await backend.board.announce(launch("AAA"))
    assert await peer.announce(launch("BBB"))
    assert not await backend.board.announce(launch("AAA", ts_ms=9))
    assert await peer.announce(launch("CCC"))
    assert await second.wait_for(3) == ["AAA", "BBB", "CCC"]
    assert calls == [(name, s) for s in ["AAA", "BBB", "CCC"] for name in ["first", "second"]]


async def test_a_listener_hears_only_what_is_announced_after_it_listens(backend: Backend) -> None:
    assert await backend.board.announce(launch("OLD"))
    heard = Heard()
    await backend.board.listen(heard)
    assert await (await backend.peer()).announce(launch("NEW"))
    assert await heard.wait_for(1) == ["NEW"]


async def test_a_listener_that_raises_stops_nothing(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    failing, fine = Heard(), Heard()
    failing.fail_on = {"AAA", "BBB"}
    await backend.board.listen(failing)
    await backend.board.listen(fine)
    with caplog.at_level(logging.ERROR):
        for symbol in ["AAA", "BBB", "CCC"]:
            assert await backend.board.announce(launch(symbol))
        assert await fine.wait_for(3) == ["AAA", "BBB", "CCC"]
    assert failing.symbols == ["AAA", "BBB", "CCC"]
    assert "launch listener failed on AAA" in caplog.text


async def test_nothing_is_heard_after_close(backend: Backend) -> None:
    heard, witness = Heard(), Heard()
    announcer = await backend.peer()
    await announcer.listen(witness)
    tasks_before = asyncio.all_tasks()
    await backend.board.listen(heard)
    started = asyncio.all_tasks() - tasks_before  # the board's, and maybe a driver's send
    await backend.board.close()
    if started:
        await asyncio.wait(started, timeout=WAIT_S)
    assert all(task.done() for task in started)  # close stopped whatever listen started
    assert await announcer.announce(launch("LATE"))
    if announcer is not backend.board:
        assert await witness.wait_for(1) == ["LATE"]  # it went out to every listening board
    assert heard.launches == []


async def test_memory_listeners_have_heard_when_announce_returns() -> None:
    board = InMemoryLaunchBoard()
    heard = Heard()
    await board.listen(heard)
    await board.announce(launch("NOW"))
    assert heard.symbols == ["NOW"]


async def test_an_unreachable_redis_is_a_dependency_error() -> None:
    board = RedisLaunchBoard("redis://127.0.0.1:9/0", prefix="oe-unreachable")  # port 9: none
    try:
        with pytest.raises(DependencyUnavailableError, match="announcing a launch"):
            await board.announce(launch("NOPE"))
        with pytest.raises(DependencyUnavailableError, match="reading launches"):
            await board.launches()
        with pytest.raises(DependencyUnavailableError):
            await board.ping()
        with pytest.raises(DependencyUnavailableError):
            await board.listen(Heard())
    finally:
        await board.close()


async def test_a_listener_hears_a_board_created_after_it_listened(redis: _RedisBackend) -> None:
    heard = Heard()
    await redis.board.listen(heard)
    assert await redis.open().announce(launch("LATER"))
    assert await heard.wait_for(1) == ["LATER"]


def _behind(url: str, outage: TcpOutage) -> str:
    """`url` (a Redis URL, its database kept) pointed at `outage`'s port."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"127.0.0.1:{outage.port}").geturl()


async def test_a_listener_hears_what_was_announced_while_redis_was_down(
    redis: _RedisBackend, caplog: pytest.LogCaptureFixture
) -> None:
    parts = urlsplit(redis.url)
    outage = TcpOutage(parts.hostname or "127.0.0.1", parts.port or 6379)
    await outage.up()
    behind_proxy = redis.open(_behind(redis.url, outage))
    heard = Heard()
    try:
        await behind_proxy.listen(heard)
        assert await redis.board.announce(launch("BEFORE"))
        assert await heard.wait_for(1) == ["BEFORE"]
        await outage.down()
        with pytest.raises(DependencyUnavailableError):
            await behind_proxy.announce(launch("LOST"))
        assert await redis.board.announce(launch("DURING"))
        await outage.up()
        assert await heard.wait_for(2) == ["BEFORE", "DURING"]
        assert await redis.board.announce(launch("AFTER"))
        assert await heard.wait_for(3) == ["BEFORE", "DURING", "AFTER"]
        assert await behind_proxy.announce(launch("BACK"))
        assert await heard.wait_for(4) == ["BEFORE", "DURING", "AFTER", "BACK"]
        # an outage is expected: one line with the reason each retry, no traceback
        retries = [r for r in caplog.records if r.name.endswith("redis_launches")]
        assert retries and all(r.exc_info is None for r in retries)
    finally:
        await outage.down()  # the fixture closes the boards
