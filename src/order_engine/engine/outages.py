"""Waiting out an outage of a dependency (the database, the chain's RPC node) without
spending an order's attempts.

An attempt that fails because something the engine depends on did not answer says nothing
about the order: the same attempt runs again after a backoff (1, 2, 4 … up to `cap_s`
seconds), as a rescheduled job, for up to `max_wait_s` from the first failure. Only an
outage that outlasts that is counted as a failed attempt. The clock starts per order and
lives in the process (a worker that dies forgets it; its successor starts a new one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class OutageWaits:
    max_wait_s: float = 300.0
    base_s: float = 1.0
    cap_s: float = 8.0
    now: Callable[[], float] = time.monotonic
    _since: dict[str, tuple[float, int]] = field(default_factory=dict)

    def delay_s(self, key: str) -> float | None:
        """How long to wait before trying `key` again, or None once its outage has lasted
        `max_wait_s` (then the failure counts, and the clock starts again)."""
        now = self.now()
        first, waits = self._since.get(key, (now, 0))
        if now - first >= self.max_wait_s:
            self._since.pop(key, None)
            return None
        self._since[key] = (first, waits + 1)
        return float(min(self.cap_s, self.base_s * 2**waits))

    def clear(self, key: str) -> None:
        """`key` got through (or ended): its next outage starts a new clock."""
        self._since.pop(key, None)

    def __len__(self) -> int:
        return len(self._since)
