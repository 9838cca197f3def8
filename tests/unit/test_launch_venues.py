"""Token launches on the simulated venues: the registry and price a launch adds, the one
pool it opens (on its venue, against its quote token) and that pool's volatile first block.

The token registry and the prices belong to one set of venues (one engine): each test
makes its own (`ReferencePrices`, over a `TokenRegistry` of its own), so none leaks into
another."""

from __future__ import annotations

import hashlib
import itertools
from decimal import Decimal

import pytest

from order_engine.domain.errors import NoRouteError, RequestError
from order_engine.domain.launches import Launch
from order_engine.domain.pools import ConstantProductPool, DlmmPool
from order_engine.domain.quotes import minimum_out
from order_engine.domain.tokens import TOKENS, Token, TokenRegistry, check_amount
from order_engine.venues.base import TxState
from order_engine.venues.sim.market import ReferencePrices
from order_engine.venues.sim.pool_book import LAUNCH_VOLATILE_SWAPS, PoolPair, pool_pairs
from order_engine.venues.sim.simulated import (
    METEORA,
    RAYDIUM,
    SimulatedVenue,
    apply_launch,
)
from tests.unit.venue_helpers import build_for, venue

D = Decimal
SOL, USDC, BONK = TOKENS["SOL"], TOKENS["USDC"], TOKENS["BONK"]
PRICE = D("0.00001")  # SOL per new token: 1 SOL buys about 100,000
_serial = itertools.count(1)


def launch(venue_name: str = "raydium", *, quote: str = "SOL", decimals: int = 6) -> Launch:
    """A launch of a symbol no other test uses (LNCH1, LNCH2, …), with its own mint."""
    symbol = f"LNCH{next(_serial)}"
    mint = hashlib.sha256(symbol.encode()).hexdigest()[:44]
    return Launch(symbol, mint, decimals, venue_name, quote, PRICE, D(200_000), 1_000)


def token_of(new: Launch) -> Token:
    return Token(new.symbol, new.mint, new.decimals)


async def swap(
    v: SimulatedVenue, buy: Token, *, bps: int, order_id: str, pay: Token = SOL, amount: int = 1
) -> TxState:
    """Buy `buy` with `amount` of `pay` at `bps` slippage tolerance; the state it lands in."""
    q = await v.quote(pay, buy, D(amount))
    tx = await build_for(
        v, q, min_out=minimum_out(q.amount_out, bps, buy.decimals), order_id=order_id
    )
    await v.submit(tx)
    return (await v.status(tx.signature)).state


def opened_raydium(seed: int) -> tuple[SimulatedVenue, Token]:
    """A Raydium venue on which a new token's pool has just opened."""
    new = launch("raydium")
    v = venue(RAYDIUM, seed=seed)
    assert v.open_pool(new)
    return v, v.prices.tokens.find(new.symbol, field="tokenOut")


# --- the registry and the prices ----------------------------------------------------------


def test_a_registered_token_is_found_with_its_decimals_and_mint() -> None:
    new, market = launch(), ReferencePrices()
    tokens = market.tokens
    with pytest.raises(RequestError, match="unknown token"):
        tokens.find(new.symbol, field="tokenOut")
    assert not tokens.is_launched(new.symbol) and not tokens.is_launched("SOL")
    token = market.register_launch(new)
    assert tokens.find(new.symbol.lower(), field="tokenOut") == token == token_of(new)
    assert (token.decimals, token.mint) == (6, new.mint) and tokens.is_launched(new.symbol)
    assert market.usd_price(new.symbol) == PRICE * 150
    assert market.register_launch(new) is token  # again: nothing changes
    assert tokens.register(token_of(new)) is token
    assert set(market) == {t.symbol for t in tokens} == {*TOKENS, new.symbol}


def test_conflicting_registrations_raise_and_change_nothing() -> None:
    new, market = launch(), ReferencePrices()
    tokens = market.tokens
    market.register_launch(new)
    before = tokens.values(), market.as_dict()
    with pytest.raises(ValueError, match="registered with mint"):
        tokens.register(Token(new.symbol, "another-mint", 6))
    with pytest.raises(ValueError, match="registered with mint"):
        tokens.register(Token(new.symbol, new.mint, 9))
    with pytest.raises(ValueError, match=f"belongs to {new.symbol}"):
        tokens.register(Token(launch().symbol, new.mint, 6))
    with pytest.raises(ValueError, match="built-in"):
        tokens.register(Token("BONK", BONK.mint, BONK.decimals))
    with pytest.raises(ValueError, match=f"{new.symbol} is priced at"):
        market.register(new.symbol, D(1))
    with pytest.raises(ValueError, match="priced at"):  # the same token at another price
        market.register_launch(Launch(new.symbol, new.mint, 6, "raydium", "USDC", PRICE, D(1), 2))
    with pytest.raises(ValueError, match="finite and positive"):
        market.register(launch().symbol, D(0))
    assert (tokens.values(), market.as_dict()) == before
    assert market.register(new.symbol, PRICE * 150) == PRICE * 150


def test_a_launch_in_one_market_is_unknown_to_another() -> None:
    new, one, other = launch(), ReferencePrices(), ReferencePrices()
    one.register_launch(new)
    assert new.symbol in one.tokens and new.symbol in one
    assert new.symbol not in other.tokens and new.symbol not in other
    with pytest.raises(NoRouteError, match="no market price"):
        other.usd_price(new.symbol)
    shared = TokenRegistry()
    assert ReferencePrices(shared).register_launch(new) is shared.get(new.symbol)


def test_amounts_are_validated_against_the_new_tokens_decimals() -> None:
    token = ReferencePrices().register_launch(launch(decimals=2))
    assert check_amount(D("12.34"), token, field="amountIn") == D("12.34")
    with pytest.raises(RequestError, match=r"more than 2 decimal places"):
        check_amount(D("12.345"), token, field="amountIn")


def test_launched_tokens_add_no_pools_to_every_venue() -> None:
    before = pool_pairs()
    ReferencePrices().register_launch(launch())
    assert pool_pairs() == before and len(before) == 21


# --- opening the pool ---------------------------------------------------------------------


async def test_before_the_launch_no_venue_quotes_the_token() -> None:
    new, market = launch(), ReferencePrices()
    venues = venue(RAYDIUM, prices=market), venue(METEORA, prices=market)
    for v in venues:
        with pytest.raises(NoRouteError, match=rf"^{v.name}: no market price for {new.symbol}"):
            await v.quote(SOL, token_of(new), D(1))
    market.register_launch(new)  # known to the venues' market, but no pool is open yet
    for v in venues:
        with pytest.raises(NoRouteError, match=rf"^{v.name}: no pool for SOL/{new.symbol} yet"):
            await v.quote(SOL, token_of(new), D(1))


async def test_the_pool_opens_on_the_launch_venue_only_and_once() -> None:
    new, market = launch("raydium"), ReferencePrices()
    raydium, meteora = venue(RAYDIUM, prices=market), venue(METEORA, prices=market)
    assert not meteora.open_pool(new)  # another venue's launch: nothing changes
    with pytest.raises(RequestError):
        market.tokens.find(new.symbol, field="tokenOut")
    assert raydium.open_pool(new)
    token = market.tokens.find(new.symbol, field="tokenOut")
    pool = raydium.pool(SOL, token)
    assert isinstance(pool, ConstantProductPool) and pool.mid_price == PRICE
    assert pool.reserve_b == pytest.approx(D(200_000) / 150, rel=D("1e-20"))  # SOL side
    assert not raydium.open_pool(new) and raydium.pool(token, SOL) is pool
    with pytest.raises(NoRouteError, match=rf"^meteora: no pool for SOL/{new.symbol} yet"):
        await meteora.quote(SOL, token, D(1))
    with pytest.raises(NoRouteError, match=rf"^raydium: no pool for {new.symbol}/USDC yet"):
        await raydium.quote(token, USDC, D(1))
    assert PoolPair.of(token, SOL) not in pool_pairs()


async def test_the_new_pool_quotes_near_the_opening_price_both_ways() -> None:
    new = launch("raydium")
    v = venue(RAYDIUM, seed=3)
    v.open_pool(new)
    token = v.prices.tokens.find(new.symbol, field="tokenOut")
    buy = await v.quote(SOL, token, D(1))
    per_sol = 1 / PRICE  # 100,000 new tokens per SOL at the opening
    assert (buy.token_in, buy.token_out, buy.venue) == ("SOL", new.symbol, "raydium")
    assert per_sol / RAYDIUM.variance_high <= buy.price <= per_sol / RAYDIUM.variance_low
    assert buy.amount_out < buy.price * (1 - RAYDIUM.fee)  # the fee, then the impact
    assert buy.amount_out > buy.price * (1 - RAYDIUM.fee) * D("0.998")
    sell = await v.quote(token, SOL, D(100_000))
    assert PRICE * RAYDIUM.variance_low <= sell.price <= PRICE * RAYDIUM.variance_high
    assert D("0.99") * (1 - RAYDIUM.fee) < sell.amount_out / (sell.price * 100_000) < 1


async def test_a_launch_on_a_dlmm_venue_opens_a_bin_pool() -> None:
    new, market = launch("meteora", quote="USDC"), ReferencePrices()
    raydium, meteora = venue(RAYDIUM, prices=market), venue(METEORA, seed=5, prices=market)
    assert apply_launch([raydium, meteora], new)
    assert not apply_launch([raydium, meteora], new)  # applied twice: nothing changes
    token = market.tokens.find(new.symbol, field="tokenOut")
    assert market.usd_price(token) == PRICE
    pool = meteora.pool(USDC, token)
    assert isinstance(pool, DlmmPool) and pool.mid_price == PRICE
    assert sum((b.reserve_b for b in pool.bins), D(0)) == pytest.approx(D(200_000))
    q = await meteora.quote(USDC, token, D(10))
    assert 10 / PRICE / METEORA.variance_high * (1 - METEORA.fee) <= q.amount_out
    assert q.amount_out <= 10 / PRICE / METEORA.variance_low * (1 - METEORA.fee)
    with pytest.raises(NoRouteError, match=rf"^raydium: no pool for USDC/{new.symbol} yet"):
        await raydium.quote(USDC, token, D(10))
    assert await swap(meteora, token, bps=300, order_id="o1", pay=USDC, amount=10) is (
        TxState.LANDED
    )


def test_apply_launch_registers_the_token_where_no_venue_opens_it() -> None:
    new, v = launch("meteora"), venue(RAYDIUM)
    assert not apply_launch([v], new)
    assert v.prices.tokens.find(new.symbol, field="tokenOut") == token_of(new)
    assert v.prices.usd_price(new.symbol) == PRICE * 150


# --- the volatile first block -------------------------------------------------------------


async def test_the_first_swaps_on_a_new_pool_may_revert_and_later_ones_do_not() -> None:
    first_block: list[TxState] = []
    later: list[TxState] = []
    for seed in range(20):
        v, token = opened_raydium(seed)
        for i in range(LAUNCH_VOLATILE_SWAPS):
            first_block.append(await swap(v, token, bps=50, order_id=f"first-{i}"))
        for i in range(10):
            later.append(await swap(v, token, bps=100, order_id=f"later-{i}"))
    reverted = first_block.count(TxState.REVERTED)
    assert 10 <= reverted < len(first_block)  # ±3%: 50 bps fails about two times in five
    assert later.count(TxState.REVERTED) == 0  # ±0.5% fits well within 100 bps


async def test_executions_stray_3pct_in_the_first_block_and_half_a_pct_after() -> None:
    first_block: list[Decimal] = []
    later: list[Decimal] = []
    for seed in range(10):
        v, token = opened_raydium(seed)
        for i in range(LAUNCH_VOLATILE_SWAPS + 10):
            q = await v.quote(SOL, token, D(1))
            tx = await build_for(v, q, min_out=D(0), order_id=f"o{i}")
            await v.submit(tx)
            executed = await v.confirm(tx.signature)
            strays = first_block if i < LAUNCH_VOLATILE_SWAPS else later
            strays.append(abs(executed.amount_out / q.amount_out - 1))
    assert D("0.02") < max(first_block) <= D("0.031")
    assert max(later) <= D("0.0051")


async def test_a_wide_tolerance_survives_the_first_block() -> None:
    for seed in range(10):
        v, token = opened_raydium(seed)
        for i in range(LAUNCH_VOLATILE_SWAPS):
            assert await swap(v, token, bps=300, order_id=f"o{i}") is TxState.LANDED


async def test_established_pools_keep_the_usual_drift() -> None:
    v = venue(RAYDIUM, seed=7)
    for i in range(30):
        assert await swap(v, USDC, bps=50, order_id=f"o{i}") is TxState.LANDED
