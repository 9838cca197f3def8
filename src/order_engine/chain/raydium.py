"""Raydium CPMM (raydium-cp-swap, mainnet build of about git 183ddbb): addresses, the
`initialize` and `swap_base_input` instructions, and the AmmConfig / PoolState layouts.

The pool's exact swap math is pure and lives in `domain.pools.cpmm_exact`; this module
turns account bytes into its inputs (`CpmmPoolState.reserves`, `quote_swap_base_input`).
`create_amm_config` is admin-only, so a local genesis writes the AmmConfig account with
`amm_config_account_bytes`; pools are then created by the real `initialize`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from order_engine.chain.spl import (
    ATA_PROGRAM,
    RENT_SYSVAR,
    SYSTEM_PROGRAM,
    TOKEN_PROGRAM,
    anchor_account_discriminator,
    anchor_ix_discriminator,
    readonly,
    signer,
    writable,
)
from order_engine.domain.pools.cpmm_exact import CpmmSwap, swap_base_input

RAYDIUM_CPMM_PROGRAM: Final = Pubkey.from_string("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C")
CREATE_POOL_FEE_RECEIVER: Final = Pubkey.from_string("DNXgeM9EiiaAbaWvwjHj9fQQLAX5ZsfHyvmYUNRAdNC8")
ERR_NOT_APPROVED: Final = 6000  # swap before open_time, or swaps disabled
ERR_EXCEEDED_SLIPPAGE: Final = 6005

AMM_CONFIG_SIZE: Final = 236
AUTH_SEED: Final = b"vault_and_lp_mint_auth_seed"
_SWAP_DISABLED_BIT: Final = 1 << 2

_AMM_CONFIG = struct.Struct("<8sB?HQQQQ32s32s")
# PoolState is #[repr(packed)]: 10 pubkeys, 5 u8, then lp_supply @333 … recent_epoch @381.
_POOL_STATE = struct.Struct("<8s" + "32s" * 10 + "5B7Q")


def _pda(*seeds: bytes) -> Pubkey:
    return Pubkey.find_program_address(list(seeds), RAYDIUM_CPMM_PROGRAM)[0]


def amm_config_address(index: int) -> Pubkey:
    """The AmmConfig PDA: ["amm_config", index as big-endian u16]."""
    return _pda(b"amm_config", struct.pack(">H", index))


def amm_config_account_bytes(
    index: int,
    trade_fee_rate: int,
    protocol_fee_rate: int,
    fund_fee_rate: int,
    create_pool_fee: int,
    protocol_owner: Pubkey,
    fund_owner: Pubkey,
) -> bytes:
    """The 236 bytes of an AmmConfig account (rates out of 1,000,000; fee in lamports)."""
    seeds = [b"amm_config", struct.pack(">H", index)]
    bump = Pubkey.find_program_address(seeds, RAYDIUM_CPMM_PROGRAM)[1]
    head = _AMM_CONFIG.pack(
        anchor_account_discriminator("AmmConfig"),
        bump,
        False,  # disable_create_pool
        index,
        trade_fee_rate,
        protocol_fee_rate,
        fund_fee_rate,
        create_pool_fee,
        bytes(protocol_owner),
        bytes(fund_owner),
    )
    return head + bytes(AMM_CONFIG_SIZE - len(head))  # padding [u64; 16]


@dataclass(frozen=True, slots=True)
class AmmConfig:
    """A decoded AmmConfig: the fee rates every pool under it pays."""

    bump: int
    disable_create_pool: bool
    index: int
    trade_fee_rate: int
    protocol_fee_rate: int
    fund_fee_rate: int
    create_pool_fee: int
    protocol_owner: Pubkey
    fund_owner: Pubkey


def decode_amm_config(data: bytes) -> AmmConfig:
    """Decode AmmConfig account bytes (checks the discriminator)."""
    _, bump, disabled, index, trade, protocol, fund, pool_fee, owner, fund_owner = _unpack(
        _AMM_CONFIG, data, "AmmConfig"
    )
    return AmmConfig(
        bump=bump,
        disable_create_pool=disabled,
        index=index,
        trade_fee_rate=trade,
        protocol_fee_rate=protocol,
        fund_fee_rate=fund,
        create_pool_fee=pool_fee,
        protocol_owner=Pubkey.from_bytes(owner),
        fund_owner=Pubkey.from_bytes(fund_owner),
    )


@dataclass(frozen=True, slots=True)
class CpmmPoolKeys:
    """Every address of one pool; mint0 < mint1 by raw bytes, as the program requires."""

    pool: Pubkey
    amm_config: Pubkey
    authority: Pubkey
    mint0: Pubkey
    mint1: Pubkey
    vault0: Pubkey
    vault1: Pubkey
    lp_mint: Pubkey
    observation: Pubkey

    @classmethod
    def derive(cls, amm_config: Pubkey, mint_a: Pubkey, mint_b: Pubkey) -> CpmmPoolKeys:
        """The pool of two mints under a config, whichever order they are given in."""
        mint0, mint1 = sorted((mint_a, mint_b), key=bytes)
        pool = _pda(b"pool", bytes(amm_config), bytes(mint0), bytes(mint1))
        return cls(
            pool=pool,
            amm_config=amm_config,
            authority=_pda(AUTH_SEED),
            mint0=mint0,
            mint1=mint1,
            vault0=_pda(b"pool_vault", bytes(pool), bytes(mint0)),
            vault1=_pda(b"pool_vault", bytes(pool), bytes(mint1)),
            lp_mint=_pda(b"pool_lp_mint", bytes(pool)),
            observation=_pda(b"observation", bytes(pool)),
        )

    def zero_for_one(self, input_mint: Pubkey) -> bool:
        """True when `input_mint` is mint0 (selling token 0); ValueError if not in the pool."""
        if input_mint == self.mint0:
            return True
        if input_mint == self.mint1:
            return False
        raise ValueError(f"{input_mint} is neither mint of pool {self.pool}")


def initialize_ix(
    keys: CpmmPoolKeys,
    creator: Pubkey,
    creator_token0: Pubkey,
    creator_token1: Pubkey,
    amount0: int,
    amount1: int,
    open_time: int = 0,
) -> Instruction:
    """The permissionless `initialize` (plain SPL mints). open_time 0 means now + 1."""
    data = anchor_ix_discriminator("initialize") + struct.pack("<QQQ", amount0, amount1, open_time)
    accounts = [
        signer(creator, is_writable=True),
        readonly(keys.amm_config),
        readonly(keys.authority),
        writable(keys.pool),
        readonly(keys.mint0),
        readonly(keys.mint1),
        writable(keys.lp_mint),
        writable(creator_token0),
        writable(creator_token1),
        writable(get_associated_token_address(creator, keys.lp_mint)),
        writable(keys.vault0),
        writable(keys.vault1),
        writable(CREATE_POOL_FEE_RECEIVER),
        writable(keys.observation),
        *(readonly(TOKEN_PROGRAM) for _ in range(3)),  # token, token_0, token_1 programs
        readonly(ATA_PROGRAM),
        readonly(SYSTEM_PROGRAM),
        readonly(RENT_SYSVAR),
    ]
    return Instruction(RAYDIUM_CPMM_PROGRAM, data, accounts)


def swap_base_input_ix(
    keys: CpmmPoolKeys,
    payer: Pubkey,
    input_account: Pubkey,
    output_account: Pubkey,
    input_mint: Pubkey,
    amount_in: int,
    minimum_amount_out: int,
) -> Instruction:
    """`swap_base_input`: sell exactly `amount_in`; fails with 6005 below the minimum out."""
    zero_for_one = keys.zero_for_one(input_mint)
    in_vault, out_vault = (keys.vault0, keys.vault1) if zero_for_one else (keys.vault1, keys.vault0)
    output_mint = keys.mint1 if zero_for_one else keys.mint0
    data = anchor_ix_discriminator("swap_base_input") + struct.pack(
        "<QQ", amount_in, minimum_amount_out
    )
    accounts = [
        signer(payer),
        readonly(keys.authority),
        readonly(keys.amm_config),
        writable(keys.pool),
        writable(input_account),
        writable(output_account),
        writable(in_vault),
        writable(out_vault),
        readonly(TOKEN_PROGRAM),
        readonly(TOKEN_PROGRAM),
        readonly(input_mint),
        readonly(output_mint),
        writable(keys.observation),
    ]
    return Instruction(RAYDIUM_CPMM_PROGRAM, data, accounts)


@dataclass(frozen=True, slots=True)
class CpmmPoolState:
    """A decoded PoolState: the pool's accounts, status, accrued fees and open time.

    Fields are in the account's (packed) layout order.
    """

    amm_config: Pubkey
    pool_creator: Pubkey
    vault0: Pubkey
    vault1: Pubkey
    lp_mint: Pubkey
    mint0: Pubkey
    mint1: Pubkey
    token0_program: Pubkey
    token1_program: Pubkey
    observation: Pubkey
    auth_bump: int
    status: int
    lp_mint_decimals: int
    mint0_decimals: int
    mint1_decimals: int
    lp_supply: int
    protocol_fees_token0: int
    protocol_fees_token1: int
    fund_fees_token0: int
    fund_fees_token1: int
    open_time: int
    recent_epoch: int

    @property
    def swap_enabled(self) -> bool:
        """False when the admin disabled swaps (status bit 2)."""
        return not self.status & _SWAP_DISABLED_BIT

    def reserves(self, vault0_amount: int, vault1_amount: int) -> tuple[int, int]:
        """The swap curve's (x0, x1): vault balances minus accrued protocol and fund fees."""
        return (
            vault0_amount - self.protocol_fees_token0 - self.fund_fees_token0,
            vault1_amount - self.protocol_fees_token1 - self.fund_fees_token1,
        )


def decode_pool_state(data: bytes) -> CpmmPoolState:
    """Decode PoolState account bytes (checks the discriminator)."""
    fields = _unpack(_POOL_STATE, data, "PoolState")
    values: list[Any] = [Pubkey.from_bytes(raw) for raw in fields[1:11]] + list(fields[11:])
    return CpmmPoolState(*values)  # the fields are declared in layout order


def quote_swap_base_input(
    state: CpmmPoolState,
    config: AmmConfig,
    vault0_amount: int,
    vault1_amount: int,
    input_mint: Pubkey,
    amount_in: int,
) -> CpmmSwap:
    """What `swap_base_input` delivers now, from the decoded pool, config and vaults."""
    if input_mint not in (state.mint0, state.mint1):
        raise ValueError(f"{input_mint} is neither mint of the pool")
    x0, x1 = state.reserves(vault0_amount, vault1_amount)
    reserve_in, reserve_out = (x0, x1) if input_mint == state.mint0 else (x1, x0)
    return swap_on_reserves(config, reserve_in, reserve_out, amount_in)


def swap_on_reserves(
    config: AmmConfig, reserve_in: int, reserve_out: int, amount_in: int
) -> CpmmSwap:
    """What `swap_base_input` delivers on the curve's reserves (vaults less accrued fees),
    already picked as the input's and the output's."""
    return swap_base_input(
        amount_in,
        reserve_in,
        reserve_out,
        config.trade_fee_rate,
        protocol_fee_rate=config.protocol_fee_rate,
        fund_fee_rate=config.fund_fee_rate,
    )


def _unpack(layout: struct.Struct, data: bytes, name: str) -> tuple[Any, ...]:
    if len(data) < layout.size:
        raise ValueError(f"{name} needs {layout.size}+ bytes, got {len(data)}")
    fields: tuple[Any, ...] = layout.unpack_from(data)
    if fields[0] != anchor_account_discriminator(name):
        raise ValueError(f"not a {name} account (discriminator {bytes(data[:8]).hex()})")
    return fields
