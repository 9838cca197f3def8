"""The `routing` and `building` writes go to the store while the quotes are read and the
transactions signed (nothing needs them durable first); the write-ahead `submitted`
record still precedes every send, and a write that fails stops the attempt before
anything is sent."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.errors import DependencyUnavailableError, InsufficientFundsError
from order_engine.domain.orders import Order, OrderEvent
from order_engine.domain.tokens import Token
from order_engine.engine.ports import Job
from order_engine.engine.write_behind import alongside
from tests.unit.fakes import Rig, ScriptedVenue


class SlowStore(InMemoryOrderStore):
    """Holds each status write open until the test lets it through; records what the
    venue had done by the time each write committed."""

    def __init__(self, venue: ScriptedVenue) -> None:
        super().__init__()
        self.venue = venue
        self.gate = asyncio.Event()
        self.seen_at_commit: list[tuple[str, bool, bool]] = []
        self.fail_status: str | None = None

    async def append(self, order: Order, event: OrderEvent) -> None:
        status = event.status.value
        if status in ("routing", "building"):
            await self.gate.wait()
            if status == self.fail_status:
                raise DependencyUnavailableError("store down")
        seen = (status, self.venue.quote_calls > 0, self.venue.build_started.is_set())
        self.seen_at_commit.append(seen)
        await super().append(order, event)


async def test_quotes_and_signing_run_while_the_status_is_written() -> None:
    venue = ScriptedVenue("raydium", "150")
    store = SlowStore(venue)
    rig = Rig([venue], store=store)
    order_id = await rig.new_order()
    run = asyncio.create_task(rig.executor.handle(Job(order_id, 1, 3)))
    async with asyncio.timeout(5):
        await venue.quote_started.wait()  # quoting, with `routing` still unwritten
        assert store.seen_at_commit == []
        store.gate.set()
        await run
    statuses = [s for s, _, _ in store.seen_at_commit]
    assert statuses == ["routing", "building", "submitted", "confirmed"]
    assert store.seen_at_commit[0][1]  # `routing` committed after the quotes were read
    assert store.seen_at_commit[1][2]  # `building` committed after signing began
    assert [s for s, _ in await rig.statuses(order_id)][-1] == "confirmed"


async def test_a_status_write_that_fails_stops_the_attempt_before_anything_is_sent() -> None:
    venue = ScriptedVenue("raydium", "150")
    store = SlowStore(venue)
    store.fail_status = "building"
    store.gate.set()
    rig = Rig([venue], store=store)
    order_id = await rig.new_order()
    delay = await rig.executor.handle(Job(order_id, 1, 3))
    assert delay is not None  # the store is down: the same attempt waits, not a failure
    assert venue.build_started.is_set()  # signed while `building` was being written ...
    assert [s for s, _ in await rig.statuses(order_id)] == ["pending", "routing"]
    assert "submitted" not in [s for s, _, _ in store.seen_at_commit]  # ... never sent


async def test_the_write_error_wins_over_the_works() -> None:
    async def write() -> None:
        await asyncio.sleep(0)
        raise DependencyUnavailableError("store down")

    async def work() -> int:
        raise ValueError("no quotes")

    try:
        await alongside(write(), work())
    except DependencyUnavailableError as exc:
        assert isinstance(exc.__context__, ValueError)
    else:
        raise AssertionError("the write's error was lost")
    assert await alongside(asyncio.sleep(0), asyncio.sleep(0, result=7)) == 7


class RecordingFunds:
    """A wallet that can always pay; records each check and whether the venue's quotes
    were still being read when it began."""

    def __init__(self, venue: ScriptedVenue) -> None:
        self.venue = venue
        self.checks: list[tuple[int, bool]] = []  # (transactions, quoting then)

    async def check(
        self, owner: str | None, token: Token, amount: Decimal, *, transactions: int = 1
    ) -> None:
        gate = self.venue.quote_gate
        self.checks.append((transactions, gate is not None and not gate.is_set()))


class BrokeFunds(RecordingFunds):
    async def check(
        self, owner: str | None, token: Token, amount: Decimal, *, transactions: int = 1
    ) -> None:
        await super().check(owner, token, amount, transactions=transactions)
        raise InsufficientFundsError("the wallet holds 0 SOL")


async def test_the_wallet_is_checked_while_the_quotes_are_read() -> None:
    venue = ScriptedVenue("raydium", "150")
    venue.quote_gate = asyncio.Event()
    funds = RecordingFunds(venue)
    rig = Rig([venue], funds=funds)
    order_id = await rig.new_order()
    run = asyncio.create_task(rig.executor.handle(Job(order_id, 1, 3)))
    async with asyncio.timeout(5):
        await venue.quote_started.wait()
        await asyncio.sleep(0)
        venue.quote_gate.set()
        await run
    assert funds.checks == [(1, True)]  # once, begun while quoting
    assert [s for s, _ in await rig.statuses(order_id)][-1] == "confirmed"


async def test_a_wallet_that_cannot_pay_still_fails_after_building_with_nothing_sent() -> None:
    venue = ScriptedVenue("raydium", "150")
    rig = Rig([venue], funds=BrokeFunds(venue), max_attempts=1)
    order_id = await rig.new_order()
    await rig.executor.handle(Job(order_id, 1, 1))
    statuses = [s for s, _ in await rig.statuses(order_id)]
    assert statuses == ["pending", "routing", "building", "failed"]
    assert not venue.build_started.is_set()
