"""Contract of `RateWindow`: every implementation in `IMPLEMENTATIONS` must pass it.

A backend gives the window under test and `peer()`: another window on the same record, as
another process would hold it (in memory, one process: the same window)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from order_engine.adapters.rate_windows import InMemoryRateWindow, RedisRateWindow
from order_engine.domain.errors import DependencyUnavailableError
from order_engine.engine.account_ports import RateWindow
from tests.services import delete_prefixed_keys, require_redis_url

T0 = 1_700_000_000_000
MINUTE = 60_000


class Backend:
    def __init__(self, window: RateWindow) -> None:
        self.window = window

    def peer(self) -> RateWindow:
        return self.window

    async def close(self) -> None:
        await self.window.close()


class _RedisBackend(Backend):
    """Windows under a unique key prefix whose keys are deleted on close."""

    def __init__(self, url: str) -> None:
        self.url, self.prefix = url, f"oe-test-{uuid.uuid4().hex[:12]}"
        self.windows: list[RedisRateWindow] = []
        super().__init__(self.peer())

    def peer(self) -> RateWindow:
        window = RedisRateWindow(self.url, prefix=self.prefix)
        self.windows.append(window)
        return window

    async def close(self) -> None:
        for window in self.windows:
            await window.close()
        await delete_prefixed_keys(self.url, self.prefix)


IMPLEMENTATIONS = [
    pytest.param(lambda: Backend(InMemoryRateWindow()), id="memory"),
    pytest.param(lambda: _RedisBackend(require_redis_url()), id="redis"),
]


@pytest.fixture(params=IMPLEMENTATIONS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    build: Callable[[], Backend] = request.param
    instance = build()
    yield instance
    await instance.close()


async def take(window: RateWindow, key: str, now_ms: int, limit: int = 3) -> int | None:
    entry = uuid.uuid4().hex
    return await window.acquire(key, entry, limit=limit, window_ms=MINUTE, now_ms=now_ms)


async def test_admits_up_to_the_limit_then_says_when_a_place_frees(backend: Backend) -> None:
    w = backend.window
    assert [await take(w, "a", T0 + i * 1000) for i in range(3)] == [None, None, None]
    assert await take(w, "a", T0 + 5000) == MINUTE - 5000  # the first leaves at T0 + 60 s
    assert await take(w, "a", T0 + MINUTE - 1) == 1
    assert await take(w, "a", T0 + MINUTE) is None  # the first left: its place is free
    assert await take(w, "a", T0 + MINUTE + 1) == 1000 - 1  # the second leaves at T0 + 61 s


async def test_refusals_take_no_place(backend: Backend) -> None:
    w = backend.window
    for _ in range(3):
        assert await take(w, "a", T0) is None
    for i in range(10):
        assert await take(w, "a", T0 + i) is not None
    assert await take(w, "a", T0 + MINUTE) is None


async def test_keys_have_windows_of_their_own(backend: Backend) -> None:
    w = backend.window
    for _ in range(3):
        assert await take(w, "a", T0) is None
    assert await take(w, "a", T0) is not None
    assert await take(w, "b", T0) is None
    assert await take(w, "b", T0, limit=1) is not None  # each call names its limit


async def test_a_released_entry_frees_its_place(backend: Backend) -> None:
    w = backend.window
    entries = [f"e{i}" for i in range(3)]
    for entry in entries:
        assert await w.acquire("a", entry, limit=3, window_ms=MINUTE, now_ms=T0) is None
    assert await take(w, "a", T0 + 1) is not None
    await w.release("a", entries[1])
    await w.release("a", "never-recorded")  # a no-op
    await w.release("unknown-key", "x")
    assert await take(w, "a", T0 + 2) is None
    assert await take(w, "a", T0 + 3) is not None


async def test_racing_acquires_admit_exactly_the_limit(backend: Backend) -> None:
    windows = [backend.window, backend.peer()]  # two processes, where the backend is shared
    results = await asyncio.gather(
        *(take(windows[i % 2], "a", T0 + i, limit=10) for i in range(40))
    )
    assert sum(r is None for r in results) == 10


async def test_processes_sharing_redis_share_the_window() -> None:
    shared = _RedisBackend(require_redis_url())
    try:
        one, two = shared.window, shared.peer()
        for _ in range(3):
            assert await take(one, "a", T0) is None
        assert await take(two, "a", T0 + 1) == MINUTE - 1
    finally:
        await shared.close()


async def test_a_closed_memory_window_is_unavailable() -> None:
    window = InMemoryRateWindow()
    await window.close()
    with pytest.raises(DependencyUnavailableError):
        await take(window, "a", T0)
