"""Whose wallet signs and pays for a swap on the chain, and what a wallet holds.

An order that belongs to an account with a wallet is built, signed and paid by that
wallet (fee payer and owner of the token accounts); an order without one (made before
accounts, or by an account without a wallet) by the engine's own wallet. `Wallets` says
which keypair an account has; `ChainWallets` puts it together with the chain: the signer
of an owner, a wallet's balances, and whether it can pay for an order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Protocol

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from order_engine.chain import spl
from order_engine.chain.port import Chain
from order_engine.domain.amounts import money
from order_engine.domain.errors import InsufficientFundsError
from order_engine.domain.tokens import TOKENS, Token
from order_engine.venues.chain.curve import from_units

# The SOL one swap transaction may need besides what it trades: the signature fee, the
# priority fee, and the rent of the token accounts it creates (a temporary wSOL account,
# the output account), which a wallet must hold while the transaction runs.
FEE_RESERVE_SOL = Decimal("0.01")
SOL = TOKENS["SOL"]
KNOWN_KEYS = 4_096  # keypairs whose public key `PublicKeys` remembers


class Wallets(Protocol):
    """The keypairs of accounts' wallets."""

    async def keypair_for(self, account_id: str | None) -> Keypair | None:
        """The wallet of `account_id`; None when it has none (or for None): its orders
        are signed by the engine's wallet. Raises `PermanentExecutionError` when the
        account's wallet exists but cannot be opened."""
        ...


class StaticWallets:
    """`Wallets` from a fixed table (tests; an engine without accounts: empty)."""

    def __init__(self, keypairs: Mapping[str, Keypair] | None = None) -> None:
        self._keypairs = dict(keypairs or {})

    def add(self, account_id: str, keypair: Keypair) -> None:
        self._keypairs[account_id] = keypair

    async def keypair_for(self, account_id: str | None) -> Keypair | None:
        return None if account_id is None else self._keypairs.get(account_id)


class PublicKeys:
    """Each keypair's public key, derived once: solders derives it from the secret on every
    `Keypair.pubkey()` (~20 µs, several times per swap). Keyed by the keypair object, which
    the entry holds, so its id cannot be reused while the entry lives."""

    def __init__(self, limit: int = KNOWN_KEYS) -> None:
        self._limit = limit
        self._known: dict[int, tuple[Keypair, Pubkey]] = {}

    def of(self, keypair: Keypair) -> Pubkey:
        found = self._known.get(id(keypair))
        if found is not None and found[0] is keypair:
            return found[1]
        if len(self._known) >= self._limit:
            self._known.clear()
        key = keypair.pubkey()
        self._known[id(keypair)] = (keypair, key)
        return key


class ChainWallets:
    """The wallets of one chain: the engine's, and the accounts' (by `wallets`)."""

    def __init__(self, chain: Chain, engine_wallet: Keypair, wallets: Wallets | None = None):
        self.chain = chain
        self.engine_wallet = engine_wallet
        self._wallets = wallets or StaticWallets()
        self.keys = PublicKeys()

    async def signer(self, owner: str | None) -> Keypair:
        """Who signs and pays for the swaps of an order of `owner` (an account id)."""
        keypair = await self._wallets.keypair_for(owner)
        return self.engine_wallet if keypair is None else keypair

    async def public_key(self, owner: str | None) -> str:
        return str(self.keys.of(await self.signer(owner)))

    async def holding(self, wallet: Pubkey, token: Token) -> Decimal:
        """`wallet`'s balance of `token` (native SOL: its lamports; 0 without an account)."""
        (amount,) = await self.balances(str(wallet), [token])
        return amount

    async def balances(self, wallet: str, tokens: Iterable[Token]) -> list[Decimal]:
        """`wallet`'s balance of each token, read at once: native SOL is the wallet's
        lamports, any other token its associated token account's amount (0 if none)."""
        owner = Pubkey.from_string(wallet)
        wanted = list(tokens)
        keys = [
            owner if t.native else get_associated_token_address(owner, Pubkey.from_string(t.mint))
            for t in wanted
        ]
        found = await self.chain.accounts(keys) if keys else []
        out: list[Decimal] = []
        for token, account in zip(wanted, found, strict=True):
            if account is None:
                units = 0
            elif token.native:
                units = account.lamports
            else:
                units = spl.token_amount(account.data)
            out.append(from_units(units, token))
        return out

    async def check(
        self, owner: str | None, token: Token, amount: Decimal, *, transactions: int = 1
    ) -> None:
        """`InsufficientFundsError` naming the balance and the need unless the wallet that
        pays for `owner`'s order holds `amount` of `token` and the SOL that
        `transactions` swap transactions need (`FEE_RESERVE_SOL` each)."""
        wallet = await self.public_key(owner)
        fees = FEE_RESERVE_SOL * transactions
        for_fees = f"for the fees and rent of {transactions} transaction" + "s" * (transactions > 1)
        if token.native:
            (sol,) = await self.balances(wallet, [token])
            if sol < amount + fees:
                raise InsufficientFundsError(
                    f"the wallet {wallet} holds {_show(sol)} SOL; the order needs "
                    f"{_show(amount + fees)} SOL ({_show(amount)} SOL to swap and "
                    f"{_show(fees)} SOL {for_fees})"
                )
            return
        held, sol = await self.balances(wallet, [token, SOL])
        if held < amount:
            raise InsufficientFundsError(
                f"the wallet {wallet} holds {_show(held)} {token.symbol}; the order needs "
                f"{_show(amount)} {token.symbol}"
            )
        if sol < fees:
            raise InsufficientFundsError(
                f"the wallet {wallet} holds {_show(sol)} SOL; the order needs {_show(fees)} "
                f"SOL {for_fees}"
            )


def _show(amount: Decimal) -> str:
    """An amount without trailing zeros ("1.000000000" SOL reads "1")."""
    return money(amount.normalize())
