"""`carried_order`: a BullMQ job hands its order over on its first delivery only, and a
job whose order does not read falls back to the store (None), with a warning."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from order_engine.adapters.bullmq_worker import carried_order
from order_engine.adapters.order_json import order_to_json
from order_engine.domain.orders import Order

ORDER = Order("o1", "SOL", "USDC", Decimal("1.5"), 50, 1_700_000_000_000, account_id="a1")


@dataclass
class FakeJob:
    data: dict[str, Any] = field(default_factory=lambda: {"orderId": "o1"})
    id: str = "o1"
    attemptsMade: int = 0  # BullMQ's names
    attemptsStarted: int = 1
    stalledCounter: int = 0


def with_order(**counts: int) -> FakeJob:
    job = FakeJob(data={"orderId": "o1", "order": order_to_json(ORDER)})
    for name, count in counts.items():
        setattr(job, name, count)
    return job


def test_the_first_delivery_gets_the_order() -> None:
    assert carried_order(with_order()) == ORDER
    assert carried_order(FakeJob()) is None  # queued without one


@pytest.mark.parametrize(
    "counts",
    [{"attemptsMade": 1}, {"attemptsStarted": 2}, {"stalledCounter": 1}],
    ids=["after-a-failed-attempt", "after-a-reschedule", "after-a-stall"],
)
def test_a_later_delivery_reads_the_store(counts: dict[str, int]) -> None:
    assert carried_order(with_order(**counts)) is None


def test_an_order_that_does_not_read_falls_back_to_the_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = with_order()
    job.data["order"]["amount_in"] = "one and a half"
    assert carried_order(job) is None
    job.data["order"] = {"id": "o1"}
    assert carried_order(job) is None
    assert caplog.text.count("does not read") == 2
