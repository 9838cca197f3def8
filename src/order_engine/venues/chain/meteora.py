"""Meteora DLMM on the chain: the pair and its bin arrays, read at one slot, quoted with
the program's own arithmetic (`domain.pools.dlmm_exact`) at the chain's clock."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from order_engine.chain import dlmm
from order_engine.chain.port import CLOCK_SYSVAR, clock_unix
from order_engine.domain.errors import NoRouteError
from order_engine.domain.pools import dlmm_exact
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token
from order_engine.venues.chain.base import ChainVenue
from order_engine.venues.chain.curve import ChainCurve, SwapFn

ARRAYS_EACH_SIDE = 1  # bin arrays read beside the active bin's (local liquidity: ±34 bins)


class MeteoraChainVenue(ChainVenue):
    slippage_error = dlmm.ERR_EXCEEDED_AMOUNT_SLIPPAGE
    drained_errors = dlmm.ERRS_OUT_OF_LIQUIDITY
    program_id = dlmm.DLMM_PROGRAM

    _centres: dict[Pubkey, int]  # the bin array of the pair's active bin, as last read
    _present: dict[Pubkey, tuple[int, ...]]  # the bin arrays around it that exist

    def _known(self) -> tuple[dict[Pubkey, int], dict[Pubkey, tuple[int, ...]]]:
        if not hasattr(self, "_centres"):
            self._centres, self._present = {}, {}
        return self._centres, self._present

    async def _state(
        self, keys: dlmm.DlmmPairKeys, *, follow: bool = True
    ) -> tuple[dlmm_exact.DlmmPairState, tuple[int, ...], int, int]:
        """The pair with its bins, the bin arrays that exist, the slot and the cluster time,
        in one read of the bin arrays around the active bin's (a pair read for the first
        time, or whose active bin left its array since, is read again around it)."""
        centres, present = self._known()
        centre = centres.get(keys.lb_pair)
        if centre is None:
            (pair,) = await self.chain.accounts([keys.lb_pair])
            if pair is None:
                raise NoRouteError(f"{self.name}: no pair for these tokens on chain")
            centre = dlmm.bin_array_index(dlmm.decode_lb_pair(pair.data).active_id)
        indexes = range(centre - ARRAYS_EACH_SIDE, centre + ARRAYS_EACH_SIDE + 1)
        addresses = [dlmm.bin_array_address(keys.lb_pair, i) for i in indexes]
        slot, (clock, pair, *arrays) = await self.chain.accounts_at(
            [CLOCK_SYSVAR, keys.lb_pair, *addresses]
        )
        if pair is None or clock is None:
            raise NoRouteError(f"{self.name}: no pair for these tokens on chain")
        moved = dlmm.bin_array_index(dlmm.decode_lb_pair(pair.data).active_id)
        centres[keys.lb_pair] = moved
        if moved != centre and follow:  # the price left the window read: read around it
            return await self._state(keys, follow=False)
        found = present[keys.lb_pair] = tuple(
            i for i, a in zip(indexes, arrays, strict=True) if a is not None
        )
        state = dlmm.pair_state_from_accounts(pair.data, [a.data for a in arrays if a])
        return state, found, slot, clock_unix(clock.data)

    async def read_curve(self, token_in: Token, token_out: Token) -> ChainCurve:
        keys = self.pools.dlmm(token_in, token_out)
        state, _, slot, now = await self._state(keys)
        swap_for_y = Pubkey.from_string(token_in.swap_mint) == keys.mint_x
        _, reference = dlmm_exact.volatility_references(state, now)
        fee_rate = dlmm_exact.fee_rate(state, reference)

        def swap_on(state: dlmm_exact.DlmmPairState) -> SwapFn:
            def swap(units: int) -> tuple[int, int]:
                result = dlmm_exact.quote_exact_in(state, units, swap_for_y, now)
                return result.amount_out, result.fee

            return swap

        def mid_units(state: dlmm_exact.DlmmPairState) -> Fraction:
            """Output units per input unit at the pair's mid price (Y per X when selling X)."""
            mid = dlmm_exact.mid_price(state)  # Y units per X unit
            return mid if swap_for_y else 1 / mid

        def after(ahead: int) -> tuple[SwapFn, Fraction]:
            then = dlmm_exact.after_swap(state, ahead, swap_for_y, now)
            return swap_on(then), mid_units(then)

        return ChainCurve(
            self.name,
            token_in,
            token_out,
            slot,
            mid_units(state),
            Decimal(fee_rate) / dlmm_exact.FEE_PRECISION,
            self.expires_at_ms(),
            swap_on(state),
            after,
        )

    async def swap_instruction(
        self, quote: Quote, token_in: Token, token_out: Token, accounts: tuple[Pubkey, Pubkey],
        amount_in: int, min_out: int, owner: Pubkey,
    ) -> Instruction:  # fmt: skip
        keys = self.pools.dlmm(token_in, token_out)
        swap_for_y = Pubkey.from_string(token_in.swap_mint) == keys.mint_x
        indexes = self._known()[1].get(keys.lb_pair)
        if indexes is None:
            _, indexes, _, _ = await self._state(keys)
        ordered = sorted(indexes, reverse=swap_for_y)
        return dlmm.swap_ix(
            keys, owner, accounts[0], accounts[1], swap_for_y, amount_in, min_out,
            ordered,
        )  # fmt: skip
