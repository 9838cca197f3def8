"""Token launches over JSON-RPC: `RpcLaunches` opens a launched token's pool with real
signed transactions through `RpcChain` (the localnet app in this process), before the
launch is announced; a chain venue on the same `RpcChain` then trades the new token
exactly as it quotes it. A launch the chain refuses is never announced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from solders.keypair import Keypair

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.memory_bus import InMemoryEventBus
from order_engine.adapters.memory_launches import InMemoryLaunchBoard
from order_engine.adapters.memory_queue import InMemoryJobQueue
from order_engine.adapters.memory_store import InMemoryOrderStore
from order_engine.chain import listing
from order_engine.chain.port import Chain
from order_engine.chain.rpc_launches import RpcLaunches
from order_engine.domain.errors import AlreadyLaunchedError, TransactionRejectedError
from order_engine.domain.launches import LaunchRequest
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.launches import TokenLaunches
from order_engine.engine.retry import RetryPolicy
from order_engine.engine.waiting_orders import WaitingOrders
from order_engine.venues.chain.base import ChainVenue, ChainVenueSettings
from order_engine.venues.chain.meteora import MeteoraChainVenue
from order_engine.venues.chain.raydium import RaydiumChainVenue
from tests.chain_helpers import local_chain
from tests.contract.chain_backends import over_rpc

D = Decimal


@dataclass
class LaunchRig:
    chain: Chain
    tokens: TokenRegistry  # the engine's: launched tokens join it when applied
    board: InMemoryLaunchBoard
    launches: TokenLaunches
    venues: dict[str, ChainVenue]


@asynccontextmanager
async def launch_rig() -> AsyncIterator[LaunchRig]:
    """An engine's launches and chain venues, all over one `RpcChain` to a new localnet."""
    wallet = Keypair()
    local = local_chain(wallet)
    tokens, board, policy = TokenRegistry(), InMemoryLaunchBoard(), RetryPolicy(max_attempts=3)
    async with over_rpc(local) as chain:
        args = (chain, wallet, tokens.by_mint, ChainVenueSettings(poll_s=0))
        venues: dict[str, ChainVenue] = {
            "raydium": RaydiumChainVenue("raydium", *args),
            "meteora": MeteoraChainVenue("meteora", *args),
        }
        waiting = WaitingOrders(
            InMemoryOrderStore(), InMemoryJobQueue(policy), InMemoryJobQueue(policy),
            InMemoryEventBus(), list(venues.values()), SystemClock(), tokens=tokens,
            check_interval_s=1, quote_timeout_s=1,
        )  # fmt: skip
        rpc = RpcLaunches(chain, wallet, tokens, poll_s=0.01)
        launches = TokenLaunches(
            board, waiting, SystemClock(), tokens=tokens, venues=list(venues),
            open_pools=rpc.register, new_mint=rpc.new_mint, prepare=rpc.prepare,
        )  # fmt: skip
        await launches.start()
        try:
            yield LaunchRig(chain, tokens, board, launches, venues)
        finally:
            await board.close()


@pytest.mark.parametrize(
    ("venue", "quote", "price", "amount_in"),
    [("raydium", "SOL", "0.0005", "0.5"), ("meteora", "USDC", "0.25", "100")],
    ids=["raydium-vs-SOL", "meteora-vs-USDC"],
)
async def test_a_launched_pool_trades_exactly_as_quoted(
    venue: str, quote: str, price: str, amount_in: str
) -> None:
    async with launch_rig() as rig:
        request = LaunchRequest("RPCLX", venue, D(price), quote, decimals=6)
        launched = await rig.launches.launch(request)
        token, paid = rig.tokens.find("RPCLX", field="t"), rig.tokens.find(quote, field="q")
        assert token.mint == launched.mint
        keys = listing.raydium_keys(token, paid).pool if venue == "raydium" else (
            listing.dlmm_keys(token, paid).lb_pair
        )  # fmt: skip
        (pool,) = await rig.chain.accounts([keys])
        assert pool is not None and pool.owner == rig.venues[venue].program_id

        v = rig.venues[venue]
        q = await v.quote(paid, token, D(amount_in))
        expected = D(amount_in) / D(price)  # at the opening price, before fee and impact
        assert expected * D("0.97") < q.amount_out < expected
        tx = await v.build(
            q, token_in=paid, token_out=token, min_amount_out=q.amount_out, order_id="launch-1"
        )
        await v.submit(tx)
        assert (await v.confirm(tx.signature)).amount_out == q.amount_out

        with pytest.raises(AlreadyLaunchedError):
            await rig.launches.launch(LaunchRequest("RPCLX", "meteora", D(1), "USDC"))
        assert [item.symbol for item in await rig.board.launches()] == ["RPCLX"]


async def test_a_launch_the_chain_refuses_is_never_announced() -> None:
    async with launch_rig() as rig:
        too_deep = LaunchRequest("RPCLY", "raydium", D("0.01"), "SOL", depth_usd=D(10**9))
        with pytest.raises(TransactionRejectedError, match="insufficient lamports"):
            await rig.launches.launch(too_deep)  # 6.7M SOL a side: the wallet has 100k
        assert await rig.board.launches() == [] and "RPCLY" not in rig.tokens

        launched = await rig.launches.launch(LaunchRequest("RPCLY", "meteora", D("0.01"), "SOL"))
        assert [item.mint for item in await rig.board.launches()] == [launched.mint]
        assert "RPCLY" in rig.tokens
