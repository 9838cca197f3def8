"""What the in-process chain executed: each transaction's status, details and signed bytes,
and the memo and fee-payer indexes — in memory, or in the journal when the chain has one
(then only the latest statuses and details stay in memory)."""

from __future__ import annotations

from solders.pubkey import Pubkey
from solders.signature import Signature

from order_engine.chain.journal import ChainJournal
from order_engine.chain.port import Commitment, SignatureStatus, TransactionDetails

RECENT_DETAILS = 4_096  # transactions' statuses and details kept in memory beside the journal


class TxHistory:
    def __init__(self, journal: ChainJournal | None) -> None:
        self.journal = journal
        self._executed: dict[str, SignatureStatus] = {}
        self._details: dict[str, TransactionDetails] = {}
        self._by_memo: dict[str, list[str]] = {}
        self._by_payer: dict[str, list[str]] = {}
        self._wires: dict[str, bytes] = {}  # signed bytes by signature (no journal)

    def record(self, wire: bytes, details: TransactionDetails, payer: str) -> None:
        """An executed transaction (journaled first when there is a journal)."""
        if self.journal is not None:
            self.journal.append_tx(wire, details, payer)
        self._executed[details.signature] = SignatureStatus(
            details.slot, Commitment.PROCESSED, details.err, details.custom_error
        )
        self._details[details.signature] = details
        if self.journal is None:  # else the journal holds them all
            self._wires[details.signature] = wire
            if details.memo is not None:
                self._by_memo.setdefault(details.memo, []).append(details.signature)
            self._by_payer.setdefault(payer, []).append(details.signature)
        else:  # the journal answers for the older ones: memory stays bounded
            for recent in (self._executed, self._details):
                if len(recent) > RECENT_DETAILS:
                    del recent[next(iter(recent))]

    def executed(self, signature: str) -> SignatureStatus | None:
        """Where it landed and how it ended (the commitment left as processed)."""
        found = self._executed.get(signature)
        if found is None and self.journal is not None:
            details = self.journal.transaction(signature)
            if details is not None:
                found = SignatureStatus(
                    details.slot, Commitment.PROCESSED, details.err, details.custom_error
                )
        return found

    def details(self, signature: str) -> TransactionDetails | None:
        found = self._details.get(signature)
        if found is None and self.journal is not None:
            found = self.journal.transaction(signature)
        return found

    def signed(self, signature: str) -> bytes | None:
        if self.journal is None:
            return self._wires.get(signature)
        return self.journal.signed(bytes(Signature.from_string(signature)))

    def with_memo(self, memo: str) -> list[str]:
        """Transactions carrying `memo`, oldest first (landed or failed)."""
        if self.journal is not None:
            return self.journal.signatures_with_memo(memo)
        return list(self._by_memo.get(memo, ()))

    def paid_by(self, payer: Pubkey, limit: int) -> list[str]:
        """The latest transactions `payer` paid for, newest first."""
        if self.journal is not None:
            return self.journal.signatures_paid_by(str(payer), limit)
        return list(reversed(self._by_payer.get(str(payer), [])))[:limit]
