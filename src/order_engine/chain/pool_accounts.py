"""A pool's addresses read off its own account, for pools the engine did not open (a pools
file naming devnet or mainnet pools): a Raydium CPMM PoolState names its config, vaults,
mints and observation account; a Meteora DLMM LbPair names its mints, reserves and oracle.

Only plain SPL Token mints are supported (the swap instructions pass the SPL Token
program for both sides): a pool of a Token-2022 mint is refused with `ValueError`, as is an
account of another program or of another type.
"""

from __future__ import annotations

import struct
from typing import Final

from solders.pubkey import Pubkey

from order_engine.chain import dlmm, raydium
from order_engine.chain.port import AccountInfo
from order_engine.chain.spl import TOKEN_PROGRAM

RAYDIUM_AUTHORITY: Final = Pubkey.find_program_address(
    [raydium.AUTH_SEED], raydium.RAYDIUM_CPMM_PROGRAM
)[0]
# LbPair (IDL 0.12.0): the pubkeys after the 88-byte head; then the protocol fee (16 bytes),
# 32 bytes of padding and two 144-byte RewardInfos before the oracle; the token program
# flags (0 = SPL Token, 1 = Token-2022) after the creator.
LB_PAIR_KEYS: Final = {"token_x_mint": 88, "token_y_mint": 120, "reserve_x": 152,
                       "reserve_y": 184, "oracle": 552}  # fmt: skip
LB_PAIR_PROGRAM_FLAGS: Final = 880
SPL_TOKEN_FLAG: Final = 0


def cpmm_keys(address: Pubkey, account: AccountInfo) -> raydium.CpmmPoolKeys:
    """The keys of the Raydium CPMM pool at `address`; `ValueError` if it is none."""
    if account.owner != raydium.RAYDIUM_CPMM_PROGRAM:
        raise ValueError(f"{address} is not a Raydium CPMM account (owner {account.owner})")
    state = raydium.decode_pool_state(account.data)
    if {state.token0_program, state.token1_program} != {TOKEN_PROGRAM}:
        raise ValueError(f"{address} trades a Token-2022 mint, which the engine does not swap")
    return raydium.CpmmPoolKeys(
        pool=address,
        amm_config=state.amm_config,
        authority=RAYDIUM_AUTHORITY,
        mint0=state.mint0,
        mint1=state.mint1,
        vault0=state.vault0,
        vault1=state.vault1,
        lp_mint=state.lp_mint,
        observation=state.observation,
    )


def dlmm_keys(address: Pubkey, account: AccountInfo) -> dlmm.DlmmPairKeys:
    """The keys of the Meteora DLMM pair at `address`; `ValueError` if it is none."""
    if account.owner != dlmm.DLMM_PROGRAM:
        raise ValueError(f"{address} is not a Meteora DLMM account (owner {account.owner})")
    data = account.data
    dlmm.decode_lb_pair(data)  # checks the discriminator and the size
    flags = struct.unpack_from("<BB", data, LB_PAIR_PROGRAM_FLAGS)
    if any(flag != SPL_TOKEN_FLAG for flag in flags):
        raise ValueError(f"{address} trades a Token-2022 mint, which the engine does not swap")
    key = {name: Pubkey.from_bytes(data[at : at + 32]) for name, at in LB_PAIR_KEYS.items()}
    return dlmm.DlmmPairKeys(
        lb_pair=address,
        preset=None,
        mint_x=key["token_x_mint"],
        mint_y=key["token_y_mint"],
        reserve_x=key["reserve_x"],
        reserve_y=key["reserve_y"],
        oracle=key["oracle"],
        event_authority=dlmm.EVENT_AUTHORITY,
    )
