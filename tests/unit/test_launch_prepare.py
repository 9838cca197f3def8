"""`TokenLaunches` with a `prepare` hook (a shared chain: the launching process opens the
pool before it announces the launch): prepared before announced, nothing announced when
preparing fails, and never prepared twice for one symbol."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_launches import InMemoryLaunchBoard
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.domain.errors import AlreadyLaunchedError, TransactionRejectedError
from order_engine.domain.launches import Launch, LaunchRequest
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.engine.launches import TokenLaunches
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.waiting_orders import WaitingOrders

REQUEST = LaunchRequest("PREP", "raydium", Decimal("0.001"))


class FakeChain:
    """A `prepare` hook that records what it opened and may fail or wait."""

    def __init__(self, board: InMemoryLaunchBoard) -> None:
        self.board = board
        self.opened: list[str] = []
        self.fail, self.gate = False, asyncio.Event()
        self.gate.set()

    async def prepare(self, launch: Launch) -> None:
        assert launch.symbol not in {known.symbol for known in await self.board.launches()}
        await self.gate.wait()
        if self.fail:
            raise TransactionRejectedError("the program refused it")
        self.opened.append(launch.mint)


def launches_with(
    board: InMemoryLaunchBoard, chain: FakeChain, tokens: TokenRegistry
) -> TokenLaunches:
    policy, clock = RetryPolicy(), SystemClock()
    waiting = WaitingOrders(
        InMemoryOrderStore(), InMemoryJobQueue(policy), InMemoryJobQueue(policy),
        InMemoryEventBus(), [], clock, tokens=tokens, check_interval_s=1, quote_timeout_s=1,
    )  # fmt: skip
    mints = iter(range(1000))

    def register(launch: Launch) -> bool:
        tokens.register(Token(launch.symbol, launch.mint, launch.decimals))
        return True

    return TokenLaunches(
        board, waiting, clock, tokens=tokens, venues=["raydium"], open_pools=register,
        new_mint=lambda: f"Mint{next(mints)}", prepare=chain.prepare,
    )  # fmt: skip


async def test_a_launch_is_prepared_then_announced_and_a_failure_announces_nothing() -> None:
    board, tokens = InMemoryLaunchBoard(), TokenRegistry()
    chain = FakeChain(board)
    launches = launches_with(board, chain, tokens)
    await launches.start()
    chain.fail = True
    with pytest.raises(TransactionRejectedError):
        await launches.launch(REQUEST)
    assert await board.launches() == [] and "PREP" not in tokens
    chain.fail = False
    launched = await launches.launch(REQUEST)
    assert chain.opened == [launched.mint] and "PREP" in tokens
    assert [item.mint for item in await board.launches()] == [launched.mint]


async def test_one_symbol_is_prepared_once_even_when_launched_concurrently() -> None:
    board, tokens = InMemoryLaunchBoard(), TokenRegistry()
    chain = FakeChain(board)
    launches = launches_with(board, chain, tokens)
    await launches.start()
    chain.gate.clear()
    first = asyncio.create_task(launches.launch(REQUEST))
    await asyncio.sleep(0)
    with pytest.raises(AlreadyLaunchedError):
        await launches.launch(REQUEST)
    chain.gate.set()
    await first
    assert len(chain.opened) == 1


async def test_a_symbol_another_process_announced_is_not_prepared_again() -> None:
    board, tokens = InMemoryLaunchBoard(), TokenRegistry()
    elsewhere = Launch("PREP", "MintX", 6, "raydium", "SOL", Decimal(1), Decimal(1), 0)
    await board.announce(elsewhere)  # not applied here yet: this registry lacks it
    chain = FakeChain(board)
    with pytest.raises(AlreadyLaunchedError):
        await launches_with(board, chain, tokens).launch(REQUEST)
    assert chain.opened == []
