"""Funding wallets and reading their balances, on every chain the engine funds: the
in-process chain, and the same chain behind `order-engine localnet` through `RpcChain`
(SOL by airdrop, tokens minted by whichever key may mint them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction

from order_engine.adapters.rpc_chain import RpcChain
from order_engine.chain import spl
from order_engine.chain.faucet import ChainFaucet, in_process_airdrop
from order_engine.chain.genesis import derived_keypair
from order_engine.chain.port import Chain
from order_engine.domain.errors import (
    FundingUnavailableError,
    InsufficientFundsError,
    RequestError,
)
from order_engine.domain.tokens import TOKENS, Token
from order_engine.engine.wallets import NoFaucet
from order_engine.venues.chain.wallets import ChainWallets, StaticWallets
from tests.chain_helpers import local_chain
from tests.contract.chain_backends import CHAIN_BACKENDS
from tests.contract.test_chain_contract import landed

D = Decimal
SOL, USDC, BONK, WSOL = TOKENS["SOL"], TOKENS["USDC"], TOKENS["BONK"], TOKENS["WSOL"]


@dataclass
class Rig:
    chain: Chain
    engine_wallet: Keypair
    faucet: ChainFaucet
    wallets: ChainWallets


@pytest.fixture(params=sorted(CHAIN_BACKENDS))
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    engine_wallet = Keypair()
    local = local_chain(engine_wallet)
    async with CHAIN_BACKENDS[request.param](local) as chain:
        airdrop = (
            chain.request_airdrop
            if isinstance(chain, RpcChain)
            else in_process_airdrop(local.chain)
        )
        authorities = [derived_keypair(7, "genesis-authority"), engine_wallet]
        faucet = ChainFaucet(chain, airdrop, authorities, poll_s=0.01)
        yield Rig(chain, engine_wallet, faucet, ChainWallets(chain, engine_wallet))


async def test_a_new_wallet_holds_nothing_then_what_it_was_given(rig: Rig) -> None:
    wallet = str(Keypair().pubkey())
    assert await rig.wallets.balances(wallet, [SOL, USDC, BONK]) == [0, 0, 0]
    await rig.faucet.fund(wallet, SOL, D("10"))
    await rig.faucet.fund(wallet, USDC, D("250.5"))
    await rig.faucet.fund(wallet, USDC, D("0.5"))  # again: added to the same account
    assert await rig.wallets.balances(wallet, [SOL, USDC, BONK]) == [D(10), D(251), 0]


async def test_a_token_the_engine_minted_is_minted_by_its_wallet(rig: Rig) -> None:
    """A token launched over RPC has the engine's wallet as mint authority."""
    mint, me = Keypair(), rig.engine_wallet.pubkey()
    rent = 10_000_000
    create = spl.create_account(me, mint.pubkey(), rent, spl.MINT_SIZE, spl.TOKEN_PROGRAM)
    init = spl.initialize_mint2(mint.pubkey(), 3, me)
    latest = await rig.chain.latest_blockhash()
    message = Message.new_with_blockhash([create, init], me, latest.blockhash)
    wire = bytes(Transaction([rig.engine_wallet, mint], message, latest.blockhash))
    await landed(rig.chain, await rig.chain.send(wire))
    token = Token("MINE", str(mint.pubkey()), 3)
    wallet = str(Keypair().pubkey())
    await rig.faucet.fund(wallet, token, D("7.125"))
    assert await rig.wallets.balances(wallet, [token]) == [D("7.125")]


async def test_what_cannot_be_funded_says_why(rig: Rig) -> None:
    wallet = str(Keypair().pubkey())
    with pytest.raises(RequestError, match="fund SOL") as wsol:
        await rig.faucet.fund(wallet, WSOL, D(1))
    assert wsol.value.field == "token"
    stranger = Token("NOPE", str(Keypair().pubkey()), 6)
    with pytest.raises(FundingUnavailableError, match="not on this chain"):
        await rig.faucet.fund(wallet, stranger, D(1))
    with pytest.raises(FundingUnavailableError, match="simulated"):
        await NoFaucet("the simulated venues have no chain").fund(wallet, SOL, D(1))


async def test_the_funds_check_names_the_balance_and_the_need(rig: Rig) -> None:
    account = Keypair()
    wallets = ChainWallets(rig.chain, rig.engine_wallet, StaticWallets({"acct": account}))
    with pytest.raises(InsufficientFundsError) as empty:
        await wallets.check("acct", SOL, D(1))
    assert f"the wallet {account.pubkey()} holds 0 SOL" in empty.value.message
    assert "needs 1.01 SOL (1 SOL to swap" in empty.value.message
    await rig.faucet.fund(str(account.pubkey()), SOL, D(2))
    await wallets.check("acct", SOL, D("1.99"))
    with pytest.raises(InsufficientFundsError, match=r"needs 2\.02 SOL"):
        await wallets.check("acct", SOL, D(2), transactions=2)
    with pytest.raises(InsufficientFundsError, match="holds 0 USDC; the order needs 5 USDC"):
        await wallets.check("acct", USDC, D(5))
    await rig.faucet.fund(str(account.pubkey()), USDC, D(5))
    await wallets.check("acct", USDC, D(5))
    await wallets.check(None, SOL, D(1000))  # the engine's wallet (funded by the genesis)
