"""A booted LiteSVM with the real Raydium CPMM and Meteora DLMM programs, and pools on them.

Reusable by any test: `boot_world()` gives a chain with two mints (SOLX, 9 decimals, and
USDC, 6), funded admin and user wallets, one Raydium pool and one DLMM pair around 150
USDC per SOLX. Only what a local genesis must write is written with `set_account` (the
AmmConfig, the create-pool-fee receiver, the PresetParameter2, the native mint);
mints, token accounts, pools, positions and liquidity go through real instructions.

The program binaries come from `../shared/chain` beside the repository (or `PROGRAMS_DIR`).
A missing binary fails the test (it never skips): run `order-engine programs fetch`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from solders.account import Account
from solders.clock import Clock
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from order_engine.chain import dlmm, raydium, spl

RAYDIUM_SO = "raydium_cp_swap.so"
DLMM_SO = "lb_clmm.so"
DLMM_IDL = "dlmm_idl.json"
FETCH_HINT = "run `order-engine programs fetch` to download the program binaries"
START_UNIX = 1_750_000_000
SOL = 10**9
USDC = 10**6
SETUP_CU = 1_400_000

_CUSTOM = re.compile(r"Custom\((\d+)\)")


def programs_dir() -> Path:
    """Where the binaries are: `PROGRAMS_DIR`, else `shared/chain` beside the repository."""
    override = os.environ.get("PROGRAMS_DIR")
    return Path(override) if override else Path(__file__).parents[2].parent / "shared" / "chain"


def program_file(name: str) -> Path:
    """The path of one program file; fails the test (never skips) when it is missing."""
    path = programs_dir() / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: {FETCH_HINT}")
    return path


IdlTypes = dict[str, Any]  # type name -> its IDL definition (JSON)


def idl_types(idl: dict[str, Any]) -> IdlTypes:
    """An Anchor IDL's type definitions by name."""
    return {t["name"]: t["type"] for t in idl["types"]}


def idl_size(types: IdlTypes, ty: str | dict[str, Any]) -> int:
    """The byte size of an IDL type (bytemuck layouts: no implicit padding)."""
    primitive = {"u8": 1, "i8": 1, "bool": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4}
    primitive |= {"u64": 8, "i64": 8, "u128": 16, "i128": 16, "pubkey": 32}
    if isinstance(ty, str):
        return primitive[ty]
    if "array" in ty:
        inner, count = ty["array"]
        return idl_size(types, inner) * int(count)
    return sum(idl_size(types, f["type"]) for f in types[ty["defined"]["name"]]["fields"])


def idl_offsets(types: IdlTypes, name: str, start: int) -> dict[str, int]:
    """Field name -> byte offset of an IDL struct whose first field sits at `start`."""
    offsets, offset = {}, start
    for f in types[name]["fields"]:
        offsets[f["name"]] = offset
        offset += idl_size(types, f["type"])
    return offsets


class TxFailedError(Exception):
    """A transaction LiteSVM refused; `custom` is the program's custom error code if any."""

    def __init__(self, result: FailedTransactionMetadata) -> None:
        self.err = str(result.err())
        self.logs = result.meta().logs()
        match = _CUSTOM.search(self.err)
        self.custom = int(match.group(1)) if match else None
        super().__init__(self.err + "\n" + "\n".join(self.logs[-12:]))


class ProgramChain:
    """LiteSVM with both programs loaded, the clock at START_UNIX and the native mint.

    It keeps no signature history, so the same transaction may be sent twice (random
    tests repeat small amounts); a real cluster would refuse it as already processed.
    """

    def __init__(self) -> None:
        self.svm = LiteSVM().with_transaction_history(0)
        self.svm.add_program(raydium.RAYDIUM_CPMM_PROGRAM, program_file(RAYDIUM_SO).read_bytes())
        self.svm.add_program(dlmm.DLMM_PROGRAM, program_file(DLMM_SO).read_bytes())
        self.set_time(START_UNIX)
        mint = spl.mint_account_bytes(None, 0, 9)
        self.write_account(spl.NATIVE_MINT, mint, spl.TOKEN_PROGRAM)

    def set_time(self, unix: int) -> None:
        clock = self.svm.get_clock()
        self.svm.set_clock(
            Clock(
                clock.slot,
                clock.epoch_start_timestamp,
                clock.epoch,
                clock.leader_schedule_epoch,
                unix,
            )
        )

    def now(self) -> int:
        return self.svm.get_clock().unix_timestamp

    def advance_time(self, seconds: int) -> None:
        self.set_time(self.now() + seconds)

    def rent(self, size: int) -> int:
        return self.svm.minimum_balance_for_rent_exemption(size)

    def write_account(self, pubkey: Pubkey, data: bytes, owner: Pubkey) -> None:
        """Genesis-only: put an account in place without an instruction."""
        self.svm.set_account(pubkey, Account(self.rent(len(data)), data, owner, False, 0))

    def data(self, pubkey: Pubkey) -> bytes:
        account = self.svm.get_account(pubkey)
        assert account is not None, f"no account at {pubkey}"
        return bytes(account.data)

    def token_balance(self, pubkey: Pubkey) -> int:
        return spl.token_amount(self.data(pubkey))

    def send(
        self,
        ixs: Sequence[Instruction],
        payer: Keypair,
        signers: Sequence[Keypair] = (),
        cu: int | None = None,
    ) -> TransactionMetadata:
        """Sign and send; raises TxFailedError when the chain refuses the transaction."""
        instructions = [set_compute_unit_limit(cu), *ixs] if cu else list(ixs)
        blockhash = self.svm.latest_blockhash()
        message = Message.new_with_blockhash(instructions, payer.pubkey(), blockhash)
        tx = Transaction([payer, *(s for s in signers if s is not payer)], message, blockhash)
        result = self.svm.send_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            raise TxFailedError(result)
        return result

    def create_mint(self, payer: Keypair, decimals: int, authority: Pubkey) -> Pubkey:
        """A mint made by the real System CreateAccount + Token InitializeMint2."""
        mint = Keypair()
        key = mint.pubkey()
        create = spl.create_account(
            payer.pubkey(), key, self.rent(spl.MINT_SIZE), spl.MINT_SIZE, spl.TOKEN_PROGRAM
        )
        self.send([create, spl.initialize_mint2(key, decimals, authority)], payer, [mint])
        return key

    def funded_ata(self, owner: Keypair, mint: Pubkey, authority: Keypair, amount: int) -> Pubkey:
        """The owner's ATA for `mint` (real CreateIdempotent), minted `amount` (real MintTo)."""
        ata, create = spl.create_ata_idempotent(owner.pubkey(), owner.pubkey(), mint)
        mint_to = spl.mint_to(mint, ata, authority.pubkey(), amount)
        self.send([create, mint_to], owner, [authority])
        return ata


def create_raydium_pool(
    chain: ProgramChain,
    creator: Keypair,
    mints: tuple[Pubkey, Pubkey],
    amounts: tuple[int, int],
    creator_accounts: tuple[Pubkey, Pubkey],
    config_index: int = 0,
) -> raydium.CpmmPoolKeys:
    """A pool made by the real `initialize` (0.25% fee: 12% protocol, 4% fund); the
    clock then moves past its open time."""
    config = raydium.amm_config_address(config_index)
    data = raydium.amm_config_account_bytes(
        config_index, 2500, 120_000, 40_000, 150_000_000, Keypair().pubkey(), Keypair().pubkey()
    )
    chain.write_account(config, data, raydium.RAYDIUM_CPMM_PROGRAM)
    if chain.svm.get_account(raydium.CREATE_POOL_FEE_RECEIVER) is None:
        rent = chain.rent(spl.TOKEN_ACCOUNT_SIZE)
        receiver = spl.native_token_account_bytes(Keypair().pubkey(), rent)
        chain.write_account(raydium.CREATE_POOL_FEE_RECEIVER, receiver, spl.TOKEN_PROGRAM)
    keys = raydium.CpmmPoolKeys.derive(config, *mints)
    by_mint = dict(zip(mints, zip(amounts, creator_accounts, strict=True), strict=True))
    (amount0, account0), (amount1, account1) = by_mint[keys.mint0], by_mint[keys.mint1]
    ix = raydium.initialize_ix(keys, creator.pubkey(), account0, account1, amount0, amount1)
    chain.send([ix], creator, cu=400_000)
    chain.advance_time(2)  # swaps open at init time + 1
    return keys


@dataclass(frozen=True)
class DlmmPair:
    """A DLMM pair with liquidity in bins [lower, upper] and its initialized bin arrays."""

    keys: dlmm.DlmmPairKeys
    start_active_id: int
    lower: int
    upper: int
    bin_arrays: tuple[int, ...]


def create_dlmm_pair(
    chain: ProgramChain,
    funder: Keypair,
    mints: tuple[Pubkey, Pubkey],
    amounts: tuple[int, int],
    funder_accounts: tuple[Pubkey, Pubkey],
    active_id: int,
    half_width: int = 30,
    preset_index: int = 0,
) -> DlmmPair:
    """A pair (bin step 10, base fee 0.1%) made by the real `initialize_lb_pair2`,
    `initialize_bin_array`, `initialize_position` and `add_liquidity_by_strategy`."""
    preset = dlmm.preset_parameter2_address(preset_index)
    # bin step 10, base factor 10000, filter 30 s, decay 600 s, variable fee control 40000,
    # max volatility 350000, reduction 50%, protocol share 5%
    data = dlmm.preset_parameter2_bytes(
        10, 10_000, 30, 600, 40_000, 350_000, 5000, 500, preset_index
    )
    chain.write_account(preset, data, dlmm.DLMM_PROGRAM)
    keys = dlmm.DlmmPairKeys.derive(preset, *mints)
    owner = funder.pubkey()
    chain.send([dlmm.initialize_lb_pair2_ix(keys, owner, active_id)], funder, cu=400_000)
    lower, upper = active_id - half_width, active_id + half_width
    arrays = tuple(sorted({dlmm.bin_array_index(lower), dlmm.bin_array_index(upper)}))
    init_arrays = [dlmm.initialize_bin_array_ix(keys.lb_pair, i, owner) for i in arrays]
    chain.send(init_arrays, funder, cu=400_000)
    position = Keypair()
    open_position = dlmm.initialize_position_ix(
        owner, position.pubkey(), keys.lb_pair, owner, lower, upper - lower + 1
    )
    add = dlmm.add_liquidity_by_strategy_ix(
        keys, position.pubkey(), owner, *funder_accounts, *amounts, active_id, lower, upper
    )
    chain.send([open_position, add], funder, [position], cu=SETUP_CU)
    return DlmmPair(keys, active_id, lower, upper, arrays)


@dataclass(frozen=True)
class ProgramsWorld:
    """A booted chain, two wallets with SOLX and USDC, a Raydium pool and a DLMM pair."""

    chain: ProgramChain
    admin: Keypair
    user: Keypair
    user_pubkey: Pubkey
    sol_mint: Pubkey
    usdc_mint: Pubkey
    user_sol: Pubkey
    user_usdc: Pubkey
    raydium_pool: raydium.CpmmPoolKeys
    dlmm_pair: DlmmPair


def boot_world() -> ProgramsWorld:
    """Both pools hold 1000 SOLX against 150,000 USDC, about 150 USDC per SOLX."""
    chain = ProgramChain()
    admin, user = Keypair(), Keypair()
    chain.svm.airdrop(admin.pubkey(), 1_000 * SOL)
    chain.svm.airdrop(user.pubkey(), 1_000 * SOL)
    sol_mint = chain.create_mint(admin, 9, admin.pubkey())
    usdc_mint = chain.create_mint(admin, 6, admin.pubkey())
    admin_sol = chain.funded_ata(admin, sol_mint, admin, 10_000 * SOL)
    admin_usdc = chain.funded_ata(admin, usdc_mint, admin, 2_000_000 * USDC)
    mints, amounts = (sol_mint, usdc_mint), (1_000 * SOL, 150_000 * USDC)
    pool = create_raydium_pool(chain, admin, mints, amounts, (admin_sol, admin_usdc))
    active_id = dlmm.active_id_for_price(Fraction(150 * USDC, SOL), 10)
    pair = create_dlmm_pair(chain, admin, mints, amounts, (admin_sol, admin_usdc), active_id)
    return ProgramsWorld(
        chain=chain,
        admin=admin,
        user=user,
        user_pubkey=user.pubkey(),
        sol_mint=sol_mint,
        usdc_mint=usdc_mint,
        user_sol=chain.funded_ata(user, sol_mint, admin, 100_000 * SOL),
        user_usdc=chain.funded_ata(user, usdc_mint, admin, 20_000_000 * USDC),
        raydium_pool=pool,
        dlmm_pair=pair,
    )
