"""The per-socket parts `JsonWebSocketProtocol` uses instead of asyncio's (measured with
tracemalloc: thousands of streams sit idle on one process, and each of these is allocated
per socket): a list-based writable flag and receive queue, and keepalive timers on one
loop timer per event loop."""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Callable
from typing import Any


class Flag:
    """`asyncio.Event` as uvicorn's WebSocket protocol uses it (`writable`: set, clear,
    is_set, wait), without the deque of waiters every Event allocates (0.7 KiB a socket)."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        self._is_set = True
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> bool:
        while not self._is_set:
            await park(self._waiters if self._waiters is not None else self._new_waiters())
        return True

    def _new_waiters(self) -> list[asyncio.Future[None]]:
        self._waiters = []
        return self._waiters


class Messages:
    """`asyncio.Queue` as uvicorn's WebSocket protocol uses it (`queue`: put_nowait, get,
    empty; unbounded), without its three deques and Event (3 KiB a socket); and the hook
    of `JsonWebSocketProtocol.watch_disconnect` (`on_disconnect`, called once)."""

    __slots__ = ("_getters", "_items", "on_disconnect")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] = []
        self.on_disconnect: Callable[[], None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        for getter in self._getters:
            if not getter.done():
                getter.set_result(None)
        if item["type"] == "websocket.disconnect" and self.on_disconnect is not None:
            on_disconnect, self.on_disconnect = self.on_disconnect, None
            on_disconnect()

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            await park(self._getters)
        return self._items.pop(0)

    def drop_received(self) -> bool:
        """Drop the client's messages waiting here; True if a disconnect is waiting."""
        self._items = [m for m in self._items if m["type"] != "websocket.receive"]
        return bool(self._items)


async def park(waiters: list[asyncio.Future[None]]) -> None:
    """Wait until one of `waiters`' owners wakes them all."""
    waiter = asyncio.get_running_loop().create_future()
    waiters.append(waiter)
    try:
        await waiter
    finally:
        waiters.remove(waiter)


TICK_S = 0.5  # the keepalive timers' resolution


class Timer:
    """A timer of `Ticks` (`cancel`, as an asyncio timer handle)."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self.callback = None


class Ticks:
    """An event loop's WebSocket keepalive timers on one loop timer (uvicorn's: a loop timer
    per socket, 0.6 KiB each): each fires at the first tick (every `TICK_S`) at or after
    its time, late by under a tick."""

    def __init__(self) -> None:
        self._due: dict[int, list[Timer]] = {}  # by tick
        self._armed: asyncio.TimerHandle | None = None
        self._armed_tick = 0

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(callback)
        tick = math.ceil((asyncio.get_running_loop().time() + delay_s) / TICK_S)
        due = self._due.get(tick)
        if due is not None:
            due.append(timer)
            return timer
        self._due[tick] = [timer]
        if self._armed is None or tick < self._armed_tick:
            self._arm(tick)
        return timer

    def _arm(self, tick: int) -> None:
        if self._armed is not None:
            self._armed.cancel()
        self._armed_tick = tick
        self._armed = asyncio.get_running_loop().call_at(tick * TICK_S, self._fire)

    def _fire(self) -> None:
        self._armed = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for tick in sorted(tick for tick in self._due if tick * TICK_S <= now):
            for timer in self._due.pop(tick):
                if timer.callback is not None:
                    loop.call_soon(timer.callback)  # its errors reported as any callback's
        if self._due:
            self._arm(min(self._due))


TICKS_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticks] = (
    weakref.WeakKeyDictionary()
)


def ticks_of(loop: asyncio.AbstractEventLoop) -> Ticks:
    ticks = TICKS_BY_LOOP.get(loop)
    if ticks is None:
        ticks = TICKS_BY_LOOP[loop] = Ticks()
    return ticks
