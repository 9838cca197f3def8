"""The simulated chain's ledger: which signed swaps the venues accepted and how each ends.

A real chain is shared by every process that talks to it, so the simulation's must be too:
when a worker dies mid-swap, the worker that takes the job over asks the venue whether the
signature landed, and must get the same answer the dead worker would have. The outcome of a
swap is decided when the venue accepts it and recorded with the time it lands (`lands_at`,
wall-clock seconds); until then its status is PENDING, afterwards LANDED or REVERTED.

`InMemorySwapLedger` serves one process (the embedded default and the tests);
`RedisSwapLedger` (adapters) serves several. Both pass `tests/contract/test_swap_ledger.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from order_engine.domain.orders import Execution
from order_engine.venues.base import TxState


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A swap the chain accepted, with the outcome it will have at `lands_at`."""

    signature: str
    venue: str
    order_id: str
    lands_at: float
    state: TxState  # LANDED or REVERTED: the state once `lands_at` has passed
    execution: Execution | None = None
    reason: str | None = None
    detail: str = ""

    def state_at(self, now: float) -> TxState:
        return self.state if now >= self.lands_at else TxState.PENDING

    def to_json(self) -> str:
        fields: dict[str, Any] = {
            "signature": self.signature,
            "venue": self.venue,
            "orderId": self.order_id,
            "landsAt": self.lands_at,
            "state": self.state.value,
            "reason": self.reason,
            "detail": self.detail,
        }
        if self.execution is not None:
            e = self.execution
            fields["execution"] = [e.dex, e.tx_hash, str(e.executed_price), str(e.amount_out)]
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> LedgerEntry:
        fields = json.loads(text)
        execution = None
        if fields.get("execution"):
            dex, tx_hash, price, out = fields["execution"]
            execution = Execution(dex, tx_hash, Decimal(price), Decimal(out))
        return cls(
            fields["signature"],
            fields["venue"],
            fields["orderId"],
            float(fields["landsAt"]),
            TxState(fields["state"]),
            execution,
            fields.get("reason"),
            fields.get("detail", ""),
        )


class SwapLedger(Protocol):
    """Shared record of accepted swaps. Errors: `VenueUnavailableError` when unreachable."""

    async def record(self, entry: LedgerEntry) -> bool:
        """Add `entry` unless its signature is already there (a chain deduplicates signed
        transactions); True if added."""
        ...

    async def get(self, signature: str) -> LedgerEntry | None: ...

    async def entries(self, order_id: str) -> list[LedgerEntry]:
        """Every swap accepted for `order_id`, in the order they were recorded."""
        ...

    async def close(self) -> None: ...


class InMemorySwapLedger:
    """One process's chain."""

    def __init__(self) -> None:
        self._by_signature: dict[str, LedgerEntry] = {}
        self._by_order: dict[str, list[LedgerEntry]] = {}

    async def record(self, entry: LedgerEntry) -> bool:
        if entry.signature in self._by_signature:
            return False
        self._by_signature[entry.signature] = entry
        self._by_order.setdefault(entry.order_id, []).append(entry)
        return True

    async def get(self, signature: str) -> LedgerEntry | None:
        return self._by_signature.get(signature)

    async def entries(self, order_id: str) -> list[LedgerEntry]:
        return list(self._by_order.get(order_id, ()))

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._by_signature)

    @property
    def landed_count(self) -> int:
        """Swaps that land (or have landed) with an execution."""
        return sum(1 for e in self._by_signature.values() if e.state is TxState.LANDED)
