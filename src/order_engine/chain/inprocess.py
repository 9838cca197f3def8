"""`InProcessChain`: the real programs in LiteSVM, behind a slot clock that behaves like
Solana's.

- **Slots.** A slot passes every `slot_s` seconds (400 ms × the latency scale) and a sent
  transaction lands at the next slot; `instant` (latency scale 0): it lands within the call
  that sends it, final at once, while slots keep their wall-clock pace (400 ms).
- **Blockhashes.** Each slot has its own blockhash; one is accepted for
  `BLOCKHASH_VALID_SLOTS` slots (LiteSVM itself only knows its newest hash, so its own
  check is off and the window is enforced here). A signature executes once.
- **Statuses.** processed in its slot, confirmed from the next one, finalized 32 later.
- **Faults** (tests): a share of sends dropped (accepted, never landed), a landing delay,
  transient errors on reads and sends.
- **Durability.** With a `ChainJournal`, every write is journaled before anyone can see
  it; `restore` rebuilds the chain from the last snapshot and the journal after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from order_engine.chain.balances import BalanceProbe, custom_error_of
from order_engine.chain.clock import SlotClock
from order_engine.chain.faults import ChainFaults, FaultInjector
from order_engine.chain.history import TxHistory
from order_engine.chain.journal import ChainJournal, EntryKind
from order_engine.chain.port import (
    BLOCKHASH_VALID_SLOTS,
    AccountInfo,
    LatestBlockhash,
    SignatureStatus,
    Simulation,
    TransactionDetails,
)
from order_engine.chain.programs import ProgramBinaries
from order_engine.domain.errors import TransactionRejectedError

log = logging.getLogger(__name__)
UNIX_KEY = "unix"  # journal meta: the chain clock's time at the last snapshot or jump
GENESIS_UNIX = 1_750_000_000  # LiteSVM's clock starts at 0; the programs need a real time
SNAPSHOT_EVERY = 2_000  # journal entries between account snapshots


@dataclass(slots=True)
class _Pending:
    wire: bytes
    tx: VersionedTransaction
    land_slot: int


class InProcessChain:
    """A `Chain` in this process. Build one with `open_chain` (genesis or restore)."""

    def __init__(
        self,
        binaries: ProgramBinaries,
        *,
        genesis_hash: str,
        slot_s: float = 0.4,
        instant: bool = False,
        journal: ChainJournal | None = None,
        faults: ChainFaults | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._svm = LiteSVM().with_blockhash_check(False).with_transaction_history(0)
        binaries.load_into(self._svm)
        self.genesis_hash = genesis_hash
        self._now, self._journal = now, journal
        self._faults = FaultInjector(faults or ChainFaults())
        self.clock = SlotClock(genesis_hash, slot_s, now, instant=instant)
        self._unix = GENESIS_UNIX
        self._pending: dict[str, _Pending] = {}
        self._history = TxHistory(journal)
        self._probe = BalanceProbe(self._svm)
        self._since_snapshot = 0
        self._clock_set: tuple[int, int] | None = None  # (slot, unix) last given to the SVM
        self._set_clock()

    # ---- the clock -------------------------------------------------------------------
    @property
    def current_slot(self) -> int:
        return self.clock.slot

    def _set_clock(self) -> None:
        """Show the programs the current slot and time (a no-op when neither moved)."""
        self._unix = max(self._unix, int(self._now()))
        if self._clock_set == (self.clock.slot, self._unix):
            return
        c = self._svm.get_clock()
        self._svm.set_clock(Clock(self.clock.slot, c.epoch_start_timestamp, 0, 0, self._unix))
        self._clock_set = (self.clock.slot, self._unix)

    def _tick(self) -> None:
        """Move the clock and land what is due."""
        slot = self.clock.tick()
        due = sorted(
            (p for p in self._pending.items() if p[1].land_slot <= slot),
            key=lambda item: item[1].land_slot,
        )
        for signature, pending in due:
            del self._pending[signature]
            self._land(signature, pending)

    def _read(self) -> None:
        self._faults.on_read()
        self._tick()
        self._set_clock()  # the Clock sysvar shows the time of the read

    # ---- reads -----------------------------------------------------------------------
    async def latest_blockhash(self) -> LatestBlockhash:
        self._read()
        return LatestBlockhash(self.clock.blockhash(), self.clock.slot + BLOCKHASH_VALID_SLOTS)

    async def block_height(self) -> int:
        self._read()
        return self.clock.slot

    async def slot(self) -> int:
        self._read()
        return self.clock.slot

    async def unix_time(self) -> int:
        self._read()
        return max(self._unix, int(self._now()))

    async def accounts(self, keys: Sequence[Pubkey]) -> list[AccountInfo | None]:
        self._read()
        return [self.account(k) for k in keys]

    async def accounts_at(self, keys: Sequence[Pubkey]) -> tuple[int, list[AccountInfo | None]]:
        self._read()
        return self.clock.slot, [self.account(k) for k in keys]

    async def balance(self, key: Pubkey) -> int:
        self._read()
        return self._svm.get_balance(key) or 0

    def account(self, key: Pubkey) -> AccountInfo | None:
        found = self._svm.get_account(key)
        if found is None or (found.lamports == 0 and not found.data):
            return None
        return AccountInfo(found.lamports, found.owner, bytes(found.data), found.executable)

    async def program_accounts(self, owner: Pubkey) -> list[tuple[Pubkey, AccountInfo]]:
        """Every account `owner` owns (`getProgramAccounts`)."""
        self._read()
        found = self._svm.get_program_accounts(owner)
        return [
            (key, AccountInfo(a.lamports, a.owner, bytes(a.data), a.executable))
            for key, a in found
            if a.lamports or a.data
        ]

    async def simulate(self, wire: bytes, *, sig_verify: bool = True) -> Simulation:
        """`sig_verify=False`: signatures are not checked (Solana's `simulateTransaction`
        default), so an unsigned transaction can be simulated."""
        self._read()
        self._set_clock()
        tx = VersionedTransaction.from_bytes(wire)
        if sig_verify:
            result = self._svm.simulate_transaction(tx)
        else:
            self._svm.with_sigverify(False)
            try:
                result = self._svm.simulate_transaction(tx)
            finally:
                self._svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            err = str(result.err())
            return Simulation(
                err, custom_error_of(err), meta.compute_units_consumed(), tuple(meta.logs())
            )
        meta = result.meta()
        return Simulation(None, None, meta.compute_units_consumed(), tuple(meta.logs()))

    async def signature_statuses(self, signatures: Sequence[str]) -> list[SignatureStatus | None]:
        self._read()
        return [self._status(s) for s in signatures]

    def _status(self, signature: str) -> SignatureStatus | None:
        found = self._history.executed(signature)
        if found is None:
            return None
        commitment = self.clock.commitment(found.slot)
        return SignatureStatus(found.slot, commitment, found.err, found.custom_error)

    async def transaction(self, signature: str) -> TransactionDetails | None:
        self._read()
        return self.details(signature)

    def signed(self, signature: str) -> bytes | None:
        """The signed bytes of an executed transaction (what `getTransaction` encodes)."""
        return self._history.signed(signature)

    def details(self, signature: str) -> TransactionDetails | None:
        """An executed transaction's details, read directly (no injected faults): the
        chain's own history, for accounting and tests."""
        return self._history.details(signature)

    # ---- writes ----------------------------------------------------------------------
    async def send(self, wire: bytes) -> str:
        self._faults.on_send()
        self._tick()
        tx = VersionedTransaction.from_bytes(wire)
        signature = str(tx.signatures[0])
        self._check_blockhash(tx)
        if signature in self._pending or self._status(signature) is not None:
            return signature  # a signature executes once; the resend changes nothing
        if self._faults.dropped(signature):
            log.info("chain dropped %s (injected)", signature)
            return signature
        delay = 0 if self.clock.instant else 1
        land = self.clock.slot + delay + self._faults.faults.landing_delay_slots
        self._pending[signature] = _Pending(wire, tx, land)
        self._tick()  # lands it now if the chain is instant
        return signature

    def _check_blockhash(self, tx: VersionedTransaction) -> None:
        if not self.clock.valid(tx.message.recent_blockhash):
            raise TransactionRejectedError(
                "blockhash not found: the transaction's blockhash is unknown or expired"
            )

    def _land(self, signature: str, pending: _Pending) -> None:
        if not self.clock.valid(pending.tx.message.recent_blockhash):
            log.info("transaction %s expired before it landed", signature)
            return
        self._execute(pending.wire, pending.tx)

    def _execute(self, wire: bytes, tx: VersionedTransaction) -> TransactionDetails | None:
        """Run `tx` now; its details, or None if the chain refused it (nothing changed)."""
        self._set_clock()
        before = self._probe.read(tx)
        result = self._svm.send_transaction(tx)
        details = self._probe.details(tx, before, result, self.clock.slot, self._unix)
        if details is None:
            log.info("transaction %s refused: %s", tx.signatures[0], getattr(result, "err", ""))
            return None
        self._history.record(wire, details, str(tx.message.account_keys[0]))
        if self._journal is not None:
            self._maybe_snapshot()
        return details

    def signatures_with_memo(self, memo: str) -> list[str]:
        """Executed transactions carrying `memo`, oldest first (landed or failed)."""
        return self._history.with_memo(memo)

    def signatures_paid_by(self, payer: Pubkey, limit: int = 1000) -> list[str]:
        """The latest transactions `payer` signed and paid for, newest first."""
        return self._history.paid_by(payer, limit)

    # ---- set-up (genesis, airdrops): synchronous, journaled ---------------------------
    def rent(self, size: int) -> int:
        return int(self._svm.minimum_balance_for_rent_exemption(size))

    def write_account(self, key: Pubkey, account: Account) -> None:
        if self._journal is not None:
            self._journal.append_account(key, bytes(account), self.clock.slot, self._unix)
        self._svm.set_account(key, account)

    def airdrop(self, key: Pubkey, lamports: int) -> None:
        found = self._svm.get_account(key)
        held = 0 if found is None else found.lamports
        self.write_account(key, Account(held + lamports, b"", Pubkey.default(), False, 0))

    def execute(self, tx: Transaction) -> TransactionDetails:
        """Run a set-up transaction at once; `TransactionRejectedError` unless it landed
        without error."""
        self._tick()
        versioned = VersionedTransaction.from_legacy(tx)
        details = self._execute(bytes(versioned), versioned)
        if details is None or details.err is not None:
            why = "refused" if details is None else f"{details.err}: {details.logs[-3:]}"
            raise TransactionRejectedError(f"set-up transaction failed ({why})")
        return details

    def blockhash_now(self) -> Hash:
        return self.clock.blockhash()

    def advance_time(self, seconds: int) -> None:
        """Move the chain clock forward (genesis, tests; the programs read
        `unix_timestamp`); kept across a restart, even before the next transaction."""
        self._unix += seconds
        self._set_clock()
        if self._journal is not None:
            self._journal.set_meta(UNIX_KEY, str(self._unix))

    # ---- durability ------------------------------------------------------------------
    def _maybe_snapshot(self) -> None:
        self._since_snapshot += 1
        if self._since_snapshot >= SNAPSHOT_EVERY and self._journal is not None:
            self.snapshot()

    def snapshot(self) -> None:
        if self._journal is None:
            return
        from order_engine.chain.balances import all_accounts  # noqa: PLC0415

        seq = self._journal.last_seq()
        self._journal.write_snapshot(all_accounts(self._svm), seq)
        self._journal.set_meta("slot", str(self.clock.slot))
        self._journal.set_meta(UNIX_KEY, str(self._unix))
        self._since_snapshot = 0

    def replay(self, journal: ChainJournal) -> int:
        """Rebuild the accounts from `journal` (snapshot, then the entries after it);
        returns how many entries were replayed. The journal is not written meanwhile."""
        seq, accounts = journal.snapshot()
        for key, raw in accounts:
            self._svm.set_account(key, Account.from_bytes(raw))
        replayed, last_slot = 0, int(journal.meta("slot") or 0)
        self._unix = max(self._unix, int(journal.meta(UNIX_KEY) or 0))  # time never goes back
        for entry in journal.entries(after=seq):
            last_slot, self._unix = max(last_slot, entry.slot), max(self._unix, entry.unix)
            if entry.kind is EntryKind.ACCOUNT and entry.key is not None:
                written = Account.from_bytes(entry.payload)
                self._svm.set_account(Pubkey.from_bytes(entry.key), written)
            elif entry.kind is EntryKind.TX:
                self._svm.set_clock(Clock(entry.slot, 0, 0, 0, entry.unix))
                self._clock_set = None
                self._svm.send_transaction(VersionedTransaction.from_bytes(entry.payload))
            replayed += 1
        origin = journal.meta("origin")
        self.clock.restored(last_slot, None if origin is None else float(origin))
        self._set_clock()
        return replayed

    async def close(self) -> None:
        if self._journal is not None:
            self.snapshot()
            self._journal.close()
            self._journal = self._history.journal = None
