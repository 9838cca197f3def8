"""The pure quote math against the real program binaries, to the base unit.

For hundreds of seeded random swaps per program and direction, the quote computed from the
decoded accounts must equal what the program delivers; DLMM swaps include multi-bin walks
across a bin-array boundary and clock advances through the filter and decay windows.
Also: the slippage boundary (min_out = quote passes, quote + 1 fails with the program's
error), and the layouts against real accounts and the IDL.
"""

from __future__ import annotations

import json
import math
import random
import struct
from collections import Counter

import pytest
from solders.pubkey import Pubkey

from order_engine.chain import dlmm, raydium, spl
from order_engine.domain.pools.base import InsufficientLiquidityError
from order_engine.domain.pools.cpmm_exact import CpmmSwap
from order_engine.domain.pools.dlmm_exact import DlmmPairState, DlmmSwap, quote_exact_in
from tests.contract.program_fixtures import (
    DLMM_IDL,
    DLMM_SO,
    FETCH_HINT,
    RAYDIUM_SO,
    SETUP_CU,
    SOL,
    USDC,
    ProgramsWorld,
    TxFailedError,
    boot_world,
    idl_offsets,
    idl_size,
    idl_types,
    program_file,
    programs_dir,
)

SWAPS_PER_DIRECTION = 200
ANCHOR_REQUIRE_GT_VIOLATED = 2505  # Raydium's refusal of a swap that would move 0
CLOCK_STEPS = (1, 5, 29, 30, 31, 100, 599, 600, 601, 1000)


@pytest.fixture(scope="module")
def world() -> ProgramsWorld:
    return boot_world()


def random_amount(rng: random.Random, high: int) -> int:
    """An amount from 1 to `high`: uniform in magnitude (dust included) or in size."""
    if rng.random() < 0.4:
        return max(1, int(10 ** rng.uniform(0, math.log10(high))))
    return rng.randint(1, high)


@pytest.mark.parametrize("name", [RAYDIUM_SO, DLMM_SO, DLMM_IDL])
def test_program_files_are_present(name: str) -> None:
    path = programs_dir() / name
    assert path.is_file(), f"{path} is missing: {FETCH_HINT}"


# ---------------------------------------------------------------- layouts


def test_mint_bytes_match_a_real_initialize_mint2(world: ProgramsWorld) -> None:
    chain = world.chain
    data = chain.data(world.usdc_mint)
    supply = int.from_bytes(data[36:44], "little")
    assert data == spl.mint_account_bytes(world.admin.pubkey(), supply, 6)


def test_native_token_account_bytes_match_a_real_wrap(world: ProgramsWorld) -> None:
    chain, user = world.chain, world.user
    wsol, create = spl.create_ata_idempotent(world.user_pubkey, world.user_pubkey, spl.NATIVE_MINT)
    fund = spl.transfer_lamports(world.user_pubkey, wsol, 2 * SOL)
    chain.send([create, fund, spl.sync_native(wsol)], user)
    rent = chain.rent(spl.TOKEN_ACCOUNT_SIZE)
    assert chain.data(wsol) == spl.native_token_account_bytes(world.user_pubkey, rent, 2 * SOL)
    assert spl.token_owner(chain.data(wsol)) == world.user_pubkey
    assert spl.token_mint(chain.data(wsol)) == spl.NATIVE_MINT
    lamports = chain.svm.get_balance(world.user_pubkey) or 0
    chain.send([spl.close_account(wsol, world.user_pubkey, world.user_pubkey)], user)
    assert chain.svm.get_account(wsol) is None
    assert chain.svm.get_balance(world.user_pubkey) == lamports + 2 * SOL + rent - 5000


def test_raydium_accounts_decode_to_the_derived_keys(world: ProgramsWorld) -> None:
    keys, chain = world.raydium_pool, world.chain
    state = raydium.decode_pool_state(chain.data(keys.pool))
    for name in ("amm_config", "vault0", "vault1", "mint0", "mint1", "lp_mint", "observation"):
        assert getattr(state, name) == getattr(keys, name), name
    assert bytes(state.mint0) < bytes(state.mint1)
    decimals = {world.sol_mint: 9, world.usdc_mint: 6}
    assert state.mint0_decimals == decimals[keys.mint0]
    assert state.mint1_decimals == decimals[keys.mint1]
    assert state.swap_enabled and state.open_time <= chain.now()
    config = raydium.decode_amm_config(chain.data(keys.amm_config))
    rates = (config.trade_fee_rate, config.protocol_fee_rate, config.fund_fee_rate)
    assert rates == (2500, 120_000, 40_000)
    with pytest.raises(ValueError, match="not a PoolState"):
        raydium.decode_pool_state(chain.data(keys.amm_config) + bytes(637))


def test_dlmm_offsets_match_the_idl() -> None:
    idl = json.loads(program_file(DLMM_IDL).read_text())
    assert idl["address"] == str(dlmm.DLMM_PROGRAM)
    types = idl_types(idl)
    assert idl_offsets(types, "LbPair", 8).items() >= dlmm.LB_PAIR_OFFSETS.items()
    bin_array = idl_offsets(types, "BinArray", 8)
    assert bin_array["bins"] == dlmm.BIN_ARRAY_BINS_OFFSET
    assert idl_size(types, {"defined": {"name": "Bin"}}) == dlmm.BIN_SIZE
    assert idl_offsets(types, "Bin", 0).items() >= dlmm.BIN_OFFSETS.items()
    static = " ".join(f["name"] for f in types["StaticParameters"]["fields"])
    assert static.startswith(  # the order decode_lb_pair unpacks
        "base_factor filter_period decay_period reduction_factor variable_fee_control "
        "max_volatility_accumulator min_bin_id max_bin_id protocol_share base_fee_power_factor "
        "function_type collect_fee_mode"
    )
    preset = idl_offsets(types, "PresetParameter2", 8)
    assert preset["collect_fee_mode"] == 8 + 24
    assert idl_size(types, {"defined": {"name": "PresetParameter2"}}) == 184


def test_dlmm_accounts_decode_to_the_pair_and_preset(world: ProgramsWorld) -> None:
    state = dlmm_state(world)
    pair = world.dlmm_pair
    preset = dict(bin_step=10, base_factor=10_000, filter_period=30, decay_period=600)
    preset |= dict(reduction_factor=5000, variable_fee_control=40_000, protocol_share=500)
    preset |= dict(max_volatility_accumulator=350_000, collect_fee_mode=0, base_fee_power_factor=0)
    assert {name: getattr(state, name) for name in preset} == preset
    assert set(state.bins) == set(range(-28 * 70, -26 * 70))
    funded = [b for b, (x, y, _) in state.bins.items() if x or y]
    assert (min(funded), max(funded)) == (pair.lower, pair.upper)
    assert pair.start_active_id == -1898  # 1.001^-1898 ≈ 0.15 USDC base units per SOLX unit


# ---------------------------------------------------------------- Raydium CPMM


def raydium_quote(world: ProgramsWorld, input_mint: Pubkey, amount_in: int) -> CpmmSwap:
    chain, keys = world.chain, world.raydium_pool
    state = raydium.decode_pool_state(chain.data(keys.pool))
    config = raydium.decode_amm_config(chain.data(keys.amm_config))
    vault0, vault1 = chain.token_balance(keys.vault0), chain.token_balance(keys.vault1)
    return raydium.quote_swap_base_input(state, config, vault0, vault1, input_mint, amount_in)


def raydium_swap(world: ProgramsWorld, sell_sol: bool, amount_in: int, min_out: int) -> int:
    """Send a swap; the amount the user received."""
    accounts = (world.user_sol, world.user_usdc) if sell_sol else (world.user_usdc, world.user_sol)
    mint = world.sol_mint if sell_sol else world.usdc_mint
    ix = raydium.swap_base_input_ix(
        world.raydium_pool, world.user_pubkey, *accounts, mint, amount_in, min_out
    )
    before = world.chain.token_balance(accounts[1])
    world.chain.send([ix], world.user)
    return world.chain.token_balance(accounts[1]) - before


def raydium_fees(world: ProgramsWorld) -> tuple[int, int, int, int]:
    s = raydium.decode_pool_state(world.chain.data(world.raydium_pool.pool))
    return s.protocol_fees_token0, s.protocol_fees_token1, s.fund_fees_token0, s.fund_fees_token1


def test_raydium_quote_equals_the_program_for_random_swaps(world: ProgramsWorld) -> None:
    rng = random.Random(20250311)
    exact: Counter[bool] = Counter()
    refused: Counter[bool] = Counter()
    while min(exact[True], exact[False]) < SWAPS_PER_DIRECTION:
        sell_sol = rng.random() < 0.5
        amount = random_amount(rng, 50 * SOL if sell_sol else 7_500 * USDC)
        mint = world.sol_mint if sell_sol else world.usdc_mint
        try:
            quote = raydium_quote(world, mint, amount)
        except InsufficientLiquidityError:
            with pytest.raises(TxFailedError) as failed:
                raydium_swap(world, sell_sol, amount, 0)
            assert failed.value.custom == ANCHOR_REQUIRE_GT_VIOLATED
            refused[sell_sol] += 1
            continue
        fees_before = raydium_fees(world)
        assert raydium_swap(world, sell_sol, amount, quote.amount_out) == quote.amount_out
        assert_fee_counters(world, fees_before, mint, quote)
        exact[sell_sol] += 1
    print(f"raydium exact: sell SOLX {exact[True]}, sell USDC {exact[False]}; dust refused by")
    print(f"both: sell SOLX {refused[True]}, sell USDC {refused[False]}")


def assert_fee_counters(
    world: ProgramsWorld,
    before: tuple[int, int, int, int],
    input_mint: Pubkey,
    quote: CpmmSwap,
) -> None:
    after = raydium_fees(world)
    side = 0 if input_mint == world.raydium_pool.mint0 else 1
    expected = list(before)
    expected[side] += quote.protocol_fee
    expected[2 + side] += quote.fund_fee
    assert list(after) == expected


@pytest.mark.parametrize("sell_sol", [True, False])
def test_raydium_min_out_boundary(world: ProgramsWorld, sell_sol: bool) -> None:
    mint = world.sol_mint if sell_sol else world.usdc_mint
    amount = SOL + 17 if sell_sol else 150 * USDC + 17
    quote = raydium_quote(world, mint, amount).amount_out
    with pytest.raises(TxFailedError) as refused:
        raydium_swap(world, sell_sol, amount, quote + 1)
    assert refused.value.custom == raydium.ERR_EXCEEDED_SLIPPAGE
    assert raydium_swap(world, sell_sol, amount, quote) == quote


# ---------------------------------------------------------------- Meteora DLMM


def dlmm_state(world: ProgramsWorld) -> DlmmPairState:
    pair, chain = world.dlmm_pair, world.chain
    arrays = [chain.data(dlmm.bin_array_address(pair.keys.lb_pair, i)) for i in pair.bin_arrays]
    return dlmm.pair_state_from_accounts(chain.data(pair.keys.lb_pair), arrays)


def dlmm_swap(world: ProgramsWorld, swap_for_y: bool, amount_in: int, min_out: int) -> int:
    accounts = (
        (world.user_sol, world.user_usdc) if swap_for_y else (world.user_usdc, world.user_sol)
    )
    pair = world.dlmm_pair
    ix = dlmm.swap_ix(
        pair.keys, world.user_pubkey, *accounts, swap_for_y, amount_in, min_out, pair.bin_arrays
    )
    before = world.chain.token_balance(accounts[1])
    world.chain.send([ix], world.user, cu=SETUP_CU)
    return world.chain.token_balance(accounts[1]) - before


def protocol_fees(world: ProgramsWorld) -> tuple[int, int]:
    data = world.chain.data(world.dlmm_pair.keys.lb_pair)
    fee_x, fee_y = struct.unpack_from("<QQ", data, dlmm.LB_PAIR_OFFSETS["protocol_fee"])
    return fee_x, fee_y


def choose_dlmm_direction(rng: random.Random, drift: int) -> bool:
    """Sell SOLX (walk down) or USDC (walk up), pulled back inside the ±30-bin position."""
    if drift > 12:
        return True
    if drift < -12:
        return False
    return rng.random() < 0.5


def run_dlmm_swap(world: ProgramsWorld, swap_for_y: bool, amount: int) -> DlmmSwap | None:
    """Quote, swap with min_out = quote, check the post-state; None if both refused."""
    state = dlmm_state(world)
    try:
        quote = quote_exact_in(state, amount, swap_for_y, world.chain.now())
    except InsufficientLiquidityError:
        with pytest.raises(TxFailedError) as failed:
            dlmm_swap(world, swap_for_y, amount, 0)
        assert failed.value.custom == dlmm.ERR_INSUFFICIENT_OUT_AMOUNT
        return None
    assert quote_exact_in(state, amount, swap_for_y, world.chain.now()) == quote  # pure
    fees_before = protocol_fees(world)
    assert dlmm_swap(world, swap_for_y, amount, quote.amount_out) == quote.amount_out
    assert dlmm_state(world).active_id == quote.end_active_id
    side = 0 if swap_for_y else 1
    assert protocol_fees(world)[side] - fees_before[side] == quote.protocol_fee
    return quote


def test_dlmm_quote_equals_the_program_for_random_swaps(world: ProgramsWorld) -> None:
    rng = random.Random(19)
    exact: Counter[bool] = Counter()
    crossed, arrays_visited, clock_moves = Counter[int](), set[int](), 0
    start = world.dlmm_pair.start_active_id
    while min(exact[True], exact[False]) < SWAPS_PER_DIRECTION:
        if rng.random() < 0.3:
            world.chain.advance_time(rng.choice([*CLOCK_STEPS, rng.randint(1, 1000)]))
            clock_moves += 1
        swap_for_y = choose_dlmm_direction(rng, dlmm_state(world).active_id - start)
        amount = random_amount(rng, 150 * SOL if swap_for_y else 20_000 * USDC)
        quote = run_dlmm_swap(world, swap_for_y, amount)
        if quote is not None:
            exact[swap_for_y] += 1
            crossed[quote.bins_crossed] += 1
            arrays_visited.add(dlmm.bin_array_index(quote.end_active_id))
    multi_bin = sum(n for bins, n in crossed.items() if bins >= 2)
    print(f"dlmm exact: sell SOLX {exact[True]}, sell USDC {exact[False]};")
    print(f"bins crossed (count: swaps) {sorted(crossed.items())}; clock moves {clock_moves}")
    assert multi_bin >= 20, crossed
    assert len(arrays_visited) == 2  # the walks crossed the −28 | −27 bin-array boundary
    assert clock_moves >= 50


def amount_to_reach(world: ProgramsWorld, target: int) -> tuple[bool, int]:
    """The direction and largest input whose quote ends in bin `target` or short of it."""
    state, now = dlmm_state(world), world.chain.now()
    swap_for_y = target < state.active_id
    low, high = 1, 10**15
    while high - low > 1:
        middle = (low + high) // 2
        try:
            end = quote_exact_in(state, middle, swap_for_y, now).end_active_id
        except InsufficientLiquidityError:
            end = None
        if end is not None and (end >= target if swap_for_y else end <= target):
            low = middle
        else:
            high = middle
    return swap_for_y, low


def test_dlmm_long_walks_across_the_bin_arrays_are_exact(world: ProgramsWorld) -> None:
    """Up to two bins below the top of the position, down to two above its bottom, back."""
    pair, walks = world.dlmm_pair, []
    for target in (pair.upper - 2, pair.lower + 2, pair.start_active_id):
        world.chain.advance_time(7)
        swap_for_y, amount = amount_to_reach(world, target)
        quote = run_dlmm_swap(world, swap_for_y, amount)
        assert quote is not None and quote.end_active_id == target
        walks.append(quote.bins_crossed)
    assert max(walks) >= 50, walks


@pytest.mark.parametrize("swap_for_y", [True, False])
def test_dlmm_min_out_boundary(world: ProgramsWorld, swap_for_y: bool) -> None:
    amount = SOL + 29 if swap_for_y else 150 * USDC + 29
    quote = quote_exact_in(dlmm_state(world), amount, swap_for_y, world.chain.now()).amount_out
    with pytest.raises(TxFailedError) as refused:
        dlmm_swap(world, swap_for_y, amount, quote + 1)
    assert refused.value.custom == dlmm.ERR_EXCEEDED_AMOUNT_SLIPPAGE
    assert dlmm_swap(world, swap_for_y, amount, quote) == quote
