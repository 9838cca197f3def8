"""Raydium CPMM on the chain: the pool state, its vaults and the AmmConfig, read at one
slot, quoted with the program's own arithmetic (`domain.pools.cpmm_exact`)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from order_engine.chain import raydium, spl
from order_engine.domain.errors import NoRouteError
from order_engine.domain.pools.cpmm_exact import FEE_RATE_DENOMINATOR
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token
from order_engine.venues.chain.base import ChainVenue
from order_engine.venues.chain.curve import ChainCurve, SwapFn


class RaydiumChainVenue(ChainVenue):
    slippage_error = raydium.ERR_EXCEEDED_SLIPPAGE
    closed_error = raydium.ERR_NOT_APPROVED  # before the pool's open_time, or swaps disabled
    program_id = raydium.RAYDIUM_CPMM_PROGRAM

    _configs: dict[Pubkey, raydium.AmmConfig]

    async def _amm_config(self, key: Pubkey) -> raydium.AmmConfig:
        if not hasattr(self, "_configs"):
            self._configs = {}
        config = self._configs.get(key)
        if config is None:  # an admin-only account: read once
            (found,) = await self.chain.accounts([key])
            if found is None:
                raise NoRouteError(f"{self.name}: the chain has no Raydium AmmConfig {key}")
            config = self._configs[key] = raydium.decode_amm_config(found.data)
        return config

    async def read_curve(self, token_in: Token, token_out: Token) -> ChainCurve:
        keys = self.pools.raydium(token_in, token_out)
        config = await self._amm_config(keys.amm_config)
        slot, (pool, vault0, vault1) = await self.chain.accounts_at(
            [keys.pool, keys.vault0, keys.vault1]
        )
        if pool is None or vault0 is None or vault1 is None:
            raise NoRouteError(
                f"{self.name}: no pool for {token_in.symbol}/{token_out.symbol} on chain"
            )
        state = raydium.decode_pool_state(pool.data)
        x0, x1 = state.reserves(spl.token_amount(vault0.data), spl.token_amount(vault1.data))
        in_mint = Pubkey.from_string(token_in.swap_mint)
        reserve_in, reserve_out = (x0, x1) if in_mint == state.mint0 else (x1, x0)
        if reserve_in <= 0 or reserve_out <= 0:
            raise NoRouteError(f"{self.name}: the {token_in.symbol} pool is empty")

        def swap_on(reserve_in: int, reserve_out: int) -> SwapFn:
            def swap(units: int) -> tuple[int, int]:
                result = raydium.swap_on_reserves(config, reserve_in, reserve_out, units)
                return result.amount_out, result.trade_fee

            return swap

        def after(ahead: int) -> tuple[SwapFn, Fraction]:
            """The vault grows by the whole input; the protocol's and fund's parts of the
            fee are kept apart from the reserves, the rest of the fee stays in them."""
            first = raydium.swap_on_reserves(config, reserve_in, reserve_out, ahead)
            now_in = reserve_in + ahead - first.protocol_fee - first.fund_fee
            now_out = reserve_out - first.amount_out
            return swap_on(now_in, now_out), Fraction(now_out, now_in)

        return ChainCurve(
            self.name,
            token_in,
            token_out,
            slot,
            Fraction(reserve_out, reserve_in),
            Decimal(config.trade_fee_rate) / FEE_RATE_DENOMINATOR,
            self.expires_at_ms(),
            swap_on(reserve_in, reserve_out),
            after,
        )

    async def swap_instruction(
        self, quote: Quote, token_in: Token, token_out: Token, accounts: tuple[Pubkey, Pubkey],
        amount_in: int, min_out: int, owner: Pubkey,
    ) -> Instruction:  # fmt: skip
        keys = self.pools.raydium(token_in, token_out)
        in_mint = Pubkey.from_string(token_in.swap_mint)
        return raydium.swap_base_input_ix(
            keys, owner, accounts[0], accounts[1], in_mint, amount_in, min_out
        )
