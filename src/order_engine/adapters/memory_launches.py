"""In-process `LaunchBoard` (embedded mode and test fake).

`announce` records the launch and awaits every listener, in registration order, before it
returns: by the time the announcing task resumes, every listener has heard of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from order_engine.domain.launches import Launch
from order_engine.engine.ports import LaunchListener

log = logging.getLogger(__name__)


async def notify(
    listeners: Sequence[LaunchListener], launch: Launch, is_open: Callable[[], bool]
) -> None:
    """Await each listener in turn while `is_open()`; one that raises is logged and the
    others are still called."""
    for listener in tuple(listeners):
        if not is_open():
            return
        try:
            await listener(launch)
        except Exception:
            log.exception("a launch listener failed on %s", launch.symbol)


class InMemoryLaunchBoard:
    """`LaunchBoard` within one process: launches by symbol, in announcement order."""

    def __init__(self) -> None:
        self._launches: dict[str, Launch] = {}  # insertion order is announcement order
        self._listeners: list[LaunchListener] = []
        self._closed = False

    async def announce(self, launch: Launch) -> bool:
        if launch.symbol in self._launches:
            return False
        self._launches[launch.symbol] = launch
        await notify(self._listeners, launch, self._is_open)
        return True

    async def launches(self) -> list[Launch]:
        return list(self._launches.values())

    async def listen(self, listener: LaunchListener) -> None:
        if not self._closed:
            self._listeners.append(listener)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        """No listener is called after this."""
        self._closed = True
        self._listeners.clear()

    def _is_open(self) -> bool:
        return not self._closed
