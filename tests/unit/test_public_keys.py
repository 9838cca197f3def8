"""`PublicKeys` remembers each keypair's public key without confusing two keypairs, and
`ChainVenue._sign` makes the same signed bytes as solders' own signing."""

from __future__ import annotations

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction

from order_engine.chain import spl
from order_engine.venues.chain.wallets import PublicKeys


def test_each_keypair_gets_its_own_key_and_the_cache_stays_bounded() -> None:
    keys = PublicKeys(limit=3)
    pairs = [Keypair() for _ in range(5)]
    for _ in range(2):
        assert [keys.of(k) for k in pairs] == [k.pubkey() for k in pairs]
    assert len(keys._known) <= 3


def test_a_new_keypair_at_a_reused_address_is_not_mistaken_for_the_old() -> None:
    keys = PublicKeys()
    for _ in range(200):  # freed keypairs' ids get reused: each must still get its own key
        pair = Keypair()
        assert keys.of(pair) == pair.pubkey()
        del pair


def test_signing_the_message_bytes_matches_solders_transaction_signing() -> None:
    payer, to = Keypair(), Keypair().pubkey()
    blockhash = Hash.new_unique()
    message = Message.new_with_blockhash(
        [spl.transfer_lamports(payer.pubkey(), to, 5)], payer.pubkey(), blockhash
    )
    ours = Transaction.populate(message, [payer.sign_message(bytes(message))])
    theirs = Transaction([payer], message, blockhash)
    assert bytes(ours) == bytes(theirs)
    ours.verify()
