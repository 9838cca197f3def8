"""Faults injected at the in-process chain (settings used by tests and demos): sends
dropped (accepted, never landed), a landing delay, transient errors on reads and sends.
Every draw comes from one source seeded by `seed`, so a run repeats."""

from __future__ import annotations

import random
from dataclasses import dataclass

from order_engine.domain.errors import ChainUnavailableError


@dataclass(frozen=True, slots=True)
class ChainFaults:
    drop_rate: float = 0.0  # a share of sends accepted and never landed
    landing_delay_slots: int = 0  # extra slots before a sent transaction lands
    read_error_rate: float = 0.0
    send_error_rate: float = 0.0
    seed: int = 0
    drop_first_sends: int = 0  # the first N sends are dropped (a resend may land)
    lose_first_txs: int = 0  # the first N transactions never land, however often sent


class FaultInjector:
    def __init__(self, faults: ChainFaults) -> None:
        self.faults = faults
        self._rng = random.Random(f"{faults.seed}:chain-faults")
        self._sends = 0
        self._lost: set[str] = set()

    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def on_read(self) -> None:
        if self._draw(self.faults.read_error_rate):
            raise ChainUnavailableError("the chain did not answer (injected read error)")

    def on_send(self) -> None:
        if self._draw(self.faults.send_error_rate):
            raise ChainUnavailableError("the chain did not answer (injected send error)")

    def dropped(self, signature: str) -> bool:
        """Whether this send of `signature` is dropped."""
        f = self.faults
        self._sends += 1
        if signature in self._lost:
            return True
        if len(self._lost) < f.lose_first_txs:
            self._lost.add(signature)
            return True
        return self._sends <= f.drop_first_sends or self._draw(f.drop_rate)
