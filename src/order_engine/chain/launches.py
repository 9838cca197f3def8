"""Token launches on the local chain: a real mint (created and initialised by its own
keypair), a supply minted to the genesis authority, and a real pool opened on the program
the launch names, at its price and depth."""

from __future__ import annotations

import logging
from decimal import Decimal

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from order_engine.chain import listing, spl
from order_engine.chain.genesis import GenesisBuilder
from order_engine.domain.launches import Launch
from order_engine.domain.tokens import Token, TokenRegistry

log = logging.getLogger(__name__)
MINT_SIZE = 82
SUPPLY_DEPTHS = 4  # the authority mints this many pool depths of a launched token


class ChainLaunches:
    """Opens launched tokens' pools through one genesis authority, registering each
    launched token in the engine's token registry."""

    def __init__(self, builder: GenesisBuilder, tokens: TokenRegistry) -> None:
        self._builder, self._tokens = builder, tokens
        self._mint_keys: dict[str, Keypair] = {}

    @property
    def tokens(self) -> TokenRegistry:
        """The registry launched tokens join (the engine's)."""
        return self._tokens

    def new_mint(self) -> str:
        """A fresh mint address (its keypair is kept to create the mint at the launch)."""
        keypair = Keypair()
        address = str(keypair.pubkey())
        self._mint_keys[address] = keypair
        return address

    def open_pool(self, launch: Launch) -> bool:
        """Register the token and open its pool; False (the token still registered) if the
        pool exists already. `ValueError` or a `TransactionRejectedError` if it cannot."""
        token = self._tokens.register(Token(launch.symbol, launch.mint, launch.decimals))
        quote = self._tokens.find(launch.quote, field="quote")
        keys = (
            listing.raydium_keys(token, quote).pool
            if launch.venue == "raydium"
            else listing.dlmm_keys(token, quote).lb_pair
        )
        if self._builder.chain.account(keys) is not None:
            return False
        b = self._builder
        b.prices[token.symbol] = launch.price * b.price(quote)
        self._create_mint(token, launch.depth_usd)
        b.open_pool(launch.venue, token, quote, launch.depth_usd)
        b.chain.advance_time(2)  # a Raydium pool trades from one second after `initialize`
        log.info("%s/%s pool opened on %s (mint %s)", token.symbol, quote.symbol,
                 launch.venue, token.mint)  # fmt: skip
        return True

    def _create_mint(self, token: Token, depth_usd: Decimal) -> None:
        b, mint = self._builder, Pubkey.from_string(token.mint)
        if b.chain.account(mint) is None:
            keypair = self._mint_keys.get(token.mint)
            if keypair is None:
                raise ValueError(f"the mint {token.mint} of {token.symbol} was not made here")
            rent = b.chain.rent(MINT_SIZE)
            create = spl.create_account(b.authority_key, mint, rent, MINT_SIZE, spl.TOKEN_PROGRAM)
            init = spl.initialize_mint2(mint, token.decimals, b.authority_key)
            b.send([create, init], [keypair])
        ata, create_ata = spl.create_ata_idempotent(b.authority_key, b.authority_key, mint)
        supply = b.base_units(token, depth_usd * SUPPLY_DEPTHS)
        b.send([create_ata, spl.mint_to(mint, ata, b.authority_key, supply)])
