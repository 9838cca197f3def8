"""The in-process chain's slot clock and blockhashes.

Slots follow wall time from the chain's origin (its genesis): one every `slot_s` seconds
(400 ms × the latency scale, or 400 ms when transactions land at once), so a restarted
chain continues where a running one would be and a blockhash handed out before a restart
keeps its age. Each slot has its own blockhash (derived from the genesis hash); one is
accepted for `BLOCKHASH_VALID_SLOTS` slots after its own (a minute at 400 ms), however busy
the chain is.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from solders.hash import Hash

from order_engine.chain.port import BLOCKHASH_VALID_SLOTS, FINALIZED_AFTER_SLOTS, Commitment


class SlotClock:
    def __init__(
        self,
        genesis_hash: str,
        slot_s: float,
        now: Callable[[], float] = time.time,
        *,
        instant: bool = False,
    ) -> None:
        if slot_s <= 0:
            raise ValueError("a slot lasts a positive time")
        self._genesis, self.slot_s, self._now = genesis_hash, slot_s, now
        self.instant = instant  # transactions land within the call that sends them, final
        self.origin = now()  # wall time at which slot 1 began
        self.slot = 1
        self._issued: dict[Hash, int] = {}

    def tick(self) -> int:
        """Advance to the wall clock's slot; the current slot."""
        self.slot = max(self.slot, 1 + int((self._now() - self.origin) / self.slot_s))
        if len(self._issued) > 4 * BLOCKHASH_VALID_SLOTS:
            oldest = self.slot - BLOCKHASH_VALID_SLOTS - 1
            self._issued = {h: s for h, s in self._issued.items() if s >= oldest}
        return self.slot

    def blockhash(self, slot: int | None = None) -> Hash:
        at = self.slot if slot is None else slot
        blockhash = Hash(hashlib.sha256(f"{self._genesis}:{at}".encode()).digest())
        self._issued.setdefault(blockhash, at)
        return blockhash

    def valid(self, blockhash: Hash) -> bool:
        """Whether a transaction signed with `blockhash` may still land."""
        issued = self._issued.get(blockhash)
        return issued is not None and self.slot - issued <= BLOCKHASH_VALID_SLOTS

    def commitment(self, landed_slot: int) -> Commitment:
        age = self.slot - landed_slot
        if self.instant or age >= FINALIZED_AFTER_SLOTS:
            return Commitment.FINALIZED
        return Commitment.CONFIRMED if age >= 1 else Commitment.PROCESSED

    def restored(self, last_slot: int, origin: float | None) -> None:
        """Continue after a restart: from the origin's wall-clock slot, at least after the
        last slot journaled; the blockhashes of the last `BLOCKHASH_VALID_SLOTS` slots stay
        known."""
        if origin is not None:
            self.origin = origin
        self.slot = max(self.slot, last_slot + 1)
        self.tick()
        for slot in range(max(1, self.slot - BLOCKHASH_VALID_SLOTS), self.slot + 1):
            self.blockhash(slot)
