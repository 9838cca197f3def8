"""Each account's orders are signed by and paid from its own wallet (the executor on the
local chain): balances move in that wallet only, the engine's stays as it was; an order
its wallet cannot pay fails at once, before anything is built or sent; an order without
an account is the engine wallet's, as before; resending and settling work by signature
whoever signed."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from order_engine.chain.faucet import ChainFaucet, in_process_airdrop
from order_engine.chain.faults import ChainFaults
from order_engine.chain.genesis import derived_keypair
from order_engine.chain.local import LocalChain
from order_engine.domain.legs import Leg, LegState
from order_engine.domain.tokens import TOKENS
from order_engine.venues.chain.wallets import ChainWallets, StaticWallets
from tests.chain_helpers import chain_venues, local_chain
from tests.unit.fakes import RecordingVenue, Rig

D = Decimal
SOL, USDC = TOKENS["SOL"], TOKENS["USDC"]


@dataclass
class Accounts:
    rig: Rig
    local: LocalChain
    wallets: ChainWallets
    faucet: ChainFaucet
    keys: dict[str, Keypair]
    venues: list[RecordingVenue]

    async def held(self, owner: str | None) -> list[Decimal]:
        """SOL and USDC of `owner`'s wallet (None: the engine's)."""
        return await self.wallets.balances(await self.wallets.public_key(owner), [SOL, USDC])

    async def fund(self, owner: str, sol: str, usdc: str = "0") -> None:
        wallet = str(self.keys[owner].pubkey())
        await self.faucet.fund(wallet, SOL, D(sol))
        if D(usdc):
            await self.faucet.fund(wallet, USDC, D(usdc))


def accounts(*names: str, faults: ChainFaults | None = None) -> Accounts:
    engine = Keypair()
    local = local_chain(engine, faults=faults)
    keys = {name: Keypair() for name in names}
    wallets = ChainWallets(local.chain, engine, StaticWallets(keys))
    venues = [RecordingVenue(v) for v in chain_venues(local, engine, wallets=wallets)]
    faucet = ChainFaucet(
        local.chain, in_process_airdrop(local.chain), [derived_keypair(7, "genesis-authority")]
    )
    return Accounts(Rig(venues, funds=wallets), local, wallets, faucet, keys, venues)


def payer(leg: Leg) -> Pubkey:
    assert leg.signed is not None
    tx = VersionedTransaction.from_bytes(base64.b64decode(leg.signed.wire))
    return tx.message.account_keys[0]


async def test_two_accounts_trade_from_their_own_wallets() -> None:
    a = accounts("alice", "bob")
    await a.fund("alice", "10")
    await a.fund("bob", "1", usdc="500")
    engine_before = await a.held(None)
    sell = await a.rig.new_order("SOL", "USDC", "2", account_id="alice")
    buy = await a.rig.new_order("USDC", "SOL", "300", account_id="bob")
    assert await a.rig.run(sell) == [] and await a.rig.run(buy) == []
    for order_id, owner in ((sell, "alice"), (buy, "bob")):
        order = await a.rig.store.get(order_id)
        assert [s for s, _ in await a.rig.statuses(order_id)][-1] == "confirmed"
        assert [payer(leg) for leg in order.legs] == [a.keys[owner].pubkey()]
    alice_sol, alice_usdc = await a.held("alice")
    sold = (await a.rig.store.get(sell)).fill
    assert D(7.9) < alice_sol < D(8) and alice_usdc == sold.amount_out  # 2 SOL + fees out
    bob_sol, bob_usdc = await a.held("bob")
    bought = (await a.rig.store.get(buy)).fill
    assert bob_usdc == 200 and D(1) + bought.amount_out - D("0.001") < bob_sol
    assert await a.held(None) == engine_before  # the engine's wallet paid nothing


async def test_an_order_its_wallet_cannot_pay_fails_at_once_with_nothing_sent() -> None:
    a = accounts("carol")
    await a.fund("carol", "1")
    order_id = await a.rig.new_order("SOL", "USDC", "5", account_id="carol")
    assert await a.rig.run(order_id) == []  # not retried
    events = await a.rig.events(order_id)
    assert [e.status.value for e in events] == ["pending", "routing", "building", "failed"]
    error = (await a.rig.store.get(order_id)).error
    assert error is not None and error.code == "insufficient_funds" and error.attempt == 1
    wallet = a.keys["carol"].pubkey()
    assert f"the wallet {wallet} holds 1 SOL; the order needs 5.01 SOL" in error.message
    assert [tx for v in a.venues for tx in v.built] == []
    usdc_order = await a.rig.new_order("USDC", "SOL", "10", account_id="carol")
    await a.rig.run(usdc_order)
    error = (await a.rig.store.get(usdc_order)).error
    assert error is not None and "holds 0 USDC; the order needs 10 USDC" in error.message


async def test_an_order_without_an_account_is_the_engine_wallets() -> None:
    a = accounts("dave")
    order_id = await a.rig.new_order("SOL", "USDC", "1")
    assert await a.rig.run(order_id) == []
    (leg,) = (await a.rig.store.get(order_id)).legs
    assert payer(leg) == a.wallets.engine_wallet.pubkey() and leg.state is LegState.LANDED
    assert await a.held("dave") == [0, 0]


async def test_an_accounts_dropped_send_lands_by_sending_its_bytes_again() -> None:
    a = accounts("erin", faults=ChainFaults(drop_first_sends=1))
    await a.fund("erin", "5")
    order_id = await a.rig.new_order("SOL", "USDC", "2", account_id="erin")
    assert await a.rig.run(order_id) == []
    order = await a.rig.store.get(order_id)
    assert [leg.state for leg in order.legs] == [LegState.LANDED]
    assert len([tx for v in a.venues for tx in v.built]) == 1  # no second signature
    assert payer(order.legs[0]) == a.keys["erin"].pubkey()
    status = await a.venues[0].status(order.legs[0].tx_hash)
    other = await a.venues[1].status(order.legs[0].tx_hash)
    landed = status if status.execution is not None else other
    assert landed.execution is not None and landed.execution.amount_out == order.fill.amount_out
