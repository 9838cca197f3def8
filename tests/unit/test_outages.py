"""An outage of a dependency is not a failed attempt: while the chain's node or the database
does not answer, the executor hands the job back with a delay (1, 2, 4 … s, capped) and
the same attempt runs again; only an outage that outlasts its budget counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from order_engine.domain.errors import ChainUnavailableError, DependencyUnavailableError
from order_engine.domain.orders import Order
from order_engine.engine.outages import OutageWaits
from tests.unit.fakes import Rig, ScriptedVenue


@dataclass
class Clock:
    t: float = 0.0

    def __call__(self) -> float:
        return self.t


def test_waits_back_off_to_a_cap_and_give_up_after_the_budget() -> None:
    clock = Clock()
    waits = OutageWaits(max_wait_s=30, base_s=1, cap_s=8, now=clock)
    delays = []
    for _ in range(6):
        delays.append(waits.delay_s("o"))
        clock.t += 5
    assert delays == [1, 2, 4, 8, 8, 8]
    assert waits.delay_s("o") is None  # 30 s of outage: now it counts
    assert waits.delay_s("o") == 1  # and a new outage starts a new clock
    waits.clear("o")
    assert len(waits) == 0


class ChainDown(ScriptedVenue):
    """A venue whose chain does not answer its first `down` reads."""

    def __init__(self, name: str, price: str, down: int) -> None:
        super().__init__(name, price)
        self.down = down

    async def curve(self, token_in, token_out):  # type: ignore[no-untyped-def]
        if self.down > 0:
            self.down -= 1
            raise ChainUnavailableError(f"{self.name}: the node did not answer")
        return await super().curve(token_in, token_out)


async def test_a_chain_outage_spends_no_attempt_and_the_order_confirms_after_it() -> None:
    rig = Rig([ChainDown("raydium", "150", down=5), ChainDown("meteora", "149", down=5)])
    rig.executor._outages = OutageWaits(max_wait_s=60, now=Clock())
    order_id = await rig.new_order()
    delays = [await rig.executor.handle(rig.job(order_id, 1)) for _ in range(5)]
    assert delays == [1, 2, 4, 8, 8]
    order = await rig.store.get(order_id)
    assert order.attempt == 0 and order.status.value == "routing"
    assert [(e.code, e.attempt) for e in order.attempt_errors] == [("chain_unavailable", 1)]
    assert await rig.executor.handle(rig.job(order_id, 1)) is None
    assert [s for s, _ in await rig.statuses(order_id)] == [
        "pending", "routing", "building", "submitted", "confirmed",
    ]  # fmt: skip
    assert (await rig.store.get(order_id)).attempt == 1


async def test_an_outage_past_its_budget_counts_as_an_attempt() -> None:
    clock = Clock()
    rig = Rig([ChainDown("raydium", "150", down=99)], max_attempts=2)
    rig.executor._outages = OutageWaits(max_wait_s=10, now=clock)
    order_id = await rig.new_order()
    assert await rig.executor.handle(rig.job(order_id, 1)) == 1
    clock.t = 11
    with pytest.raises(ChainUnavailableError):
        await rig.executor.handle(rig.job(order_id, 1))  # the queue's retry, with backoff
    assert (await rig.store.get(order_id)).attempt == 1


@dataclass
class StoreDown:
    """The store's reads fail `times` times, as a database that went away would."""

    rig: Rig
    times: int
    calls: list[str] = field(default_factory=list)

    def install(self) -> None:
        real = self.rig.store.get

        async def get(order_id: str) -> Order:
            self.calls.append(order_id)
            if len(self.calls) <= self.times:
                raise DependencyUnavailableError("database unavailable")
            return await real(order_id)

        self.rig.store.get = get  # type: ignore[method-assign]


async def test_a_database_outage_spends_no_attempt(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig([ScriptedVenue("raydium", "150")])
    rig.executor._outages = OutageWaits(max_wait_s=60, now=Clock())
    order_id = await rig.new_order()
    StoreDown(rig, times=3).install()
    assert [await rig.executor.handle(rig.job(order_id, 1)) for _ in range(3)] == [1, 2, 4]
    assert await rig.executor.handle(rig.job(order_id, 1)) is None
    assert [s for s, _ in await rig.statuses(order_id)][-1] == "confirmed"
    assert (await rig.store.get(order_id)).attempt == 1
    assert "Traceback" not in caplog.text
