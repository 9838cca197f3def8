"""An order's status and the record of why an attempt failed (pure).

They live apart from the order aggregate (`domain.orders`, which re-exports both) so that
the events' payloads (`domain.event_payloads`) can name them without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class OrderStatus(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"  # a limit order waiting for its price
    ROUTING = "routing"
    BUILDING = "building"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # a waiting order whose time in force ran out


@dataclass(frozen=True, slots=True)
class OrderError:
    """Why an attempt (or the order) failed: a stable code and a human message."""

    code: str
    message: str
    attempt: int = 0
    ts_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "attempt": self.attempt,
            "tsMs": self.ts_ms,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OrderError:
        return cls(
            str(raw["code"]),
            str(raw["message"]),
            int(raw.get("attempt", 0)),
            int(raw.get("tsMs", 0)),
        )
