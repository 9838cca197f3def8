"""The in-process chain's durability: a journal of what changed its accounts, the details of
every executed transaction, and periodic account snapshots, in one SQLite file.

Start-up restores the last snapshot and replays the journal after it, so a restarted
`serve` finds every account, balance and signature as it was. The journal is written (and
committed) before a transaction's effects are visible to anyone, so a killed process
loses nothing it reported. `sqlite3` is the standard library's; the file lives in the
data directory beside the engine's own database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import orjson
from solders.pubkey import Pubkey

from order_engine.chain.port import TokenBalanceChange, TransactionDetails

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, slot INTEGER NOT NULL,
    unix INTEGER NOT NULL, key BLOB, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txs (signature TEXT PRIMARY KEY, memo TEXT, details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS txs_memo ON txs (memo);
-- a transaction's signed bytes by its (first) signature, the bytes after the count
CREATE INDEX IF NOT EXISTS journal_tx_signature ON journal (substr(payload, 2, 64))
    WHERE kind = 'tx';
CREATE TABLE IF NOT EXISTS snapshot (pubkey BLOB PRIMARY KEY, account BLOB NOT NULL);
-- who paid for each transaction (getSignaturesForAddress of a signer)
CREATE TABLE IF NOT EXISTS tx_payers (payer TEXT NOT NULL, signature TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tx_payers_payer ON tx_payers (payer);
"""


class EntryKind(StrEnum):
    ACCOUNT = "account"  # an account written directly (genesis, airdrops)
    TX = "tx"  # a signed transaction executed at `slot`, with the clock at `unix`


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    kind: EntryKind
    slot: int
    unix: int
    key: bytes | None
    payload: bytes


class ChainJournal:
    """One chain's history in `path` (created if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.path = path

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM journal LIMIT 1").fetchone() is None

    def append_account(self, key: Pubkey, account: bytes, slot: int, unix: int) -> None:
        self._db.execute(
            "INSERT INTO journal (kind, slot, unix, key, payload) VALUES (?, ?, ?, ?, ?)",
            (EntryKind.ACCOUNT.value, slot, unix, bytes(key), account),
        )

    def append_tx(self, wire: bytes, details: TransactionDetails, payer: str) -> None:
        """The transaction, its details and its fee payer, in one commit."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO journal (kind, slot, unix, key, payload) VALUES (?, ?, ?, NULL, ?)",
                (EntryKind.TX.value, details.slot, details.block_time, wire),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO txs VALUES (?, ?, ?)",
                (details.signature, details.memo, orjson.dumps(_details_record(details)).decode()),
            )
            self._db.execute("INSERT INTO tx_payers VALUES (?, ?)", (payer, details.signature))

    def signatures_paid_by(self, payer: str, limit: int) -> list[str]:
        """The signatures of the latest transactions `payer` paid for, newest first."""
        rows = self._db.execute(
            "SELECT signature FROM tx_payers WHERE payer = ? ORDER BY rowid DESC LIMIT ?",
            (payer, limit),
        )
        return [str(r[0]) for r in rows]

    def entries(self, after: int = 0) -> Iterator[JournalEntry]:
        rows = self._db.execute(
            "SELECT seq, kind, slot, unix, key, payload FROM journal WHERE seq > ? ORDER BY seq",
            (after,),
        )
        for seq, kind, slot, unix, key, payload in rows:
            yield JournalEntry(seq, EntryKind(kind), slot, unix, key, payload)

    def last_seq(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()
        return int(row[0])

    def transaction(self, signature: str) -> TransactionDetails | None:
        row = self._db.execute("SELECT details FROM txs WHERE signature = ?", (signature,))
        found = row.fetchone()
        return None if found is None else _details_from(orjson.loads(found[0]))

    def signatures_with_memo(self, memo: str) -> list[str]:
        rows = self._db.execute("SELECT signature FROM txs WHERE memo = ? ORDER BY rowid", (memo,))
        return [str(r[0]) for r in rows]

    def signed(self, signature: bytes) -> bytes | None:
        """The signed bytes of the executed transaction whose first signature is `signature`."""
        row = self._db.execute(
            "SELECT payload FROM journal WHERE kind = 'tx' AND substr(payload, 2, 64) = ? "
            "ORDER BY seq DESC LIMIT 1",
            (signature,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def tx_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM txs").fetchone()[0])

    def write_snapshot(self, accounts: list[tuple[Pubkey, bytes]], seq: int) -> None:
        """Replace the snapshot with `accounts`, as they stand after journal entry `seq`."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM snapshot")
            self._db.executemany(
                "INSERT INTO snapshot VALUES (?, ?)", [(bytes(k), a) for k, a in accounts]
            )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('snapshot_seq', ?)", (str(seq),))

    def snapshot(self) -> tuple[int, list[tuple[Pubkey, bytes]]]:
        seq = int(self.meta("snapshot_seq") or 0)
        rows = self._db.execute("SELECT pubkey, account FROM snapshot").fetchall()
        return seq, [(Pubkey.from_bytes(k), bytes(a)) for k, a in rows]

    def close(self) -> None:
        self._db.close()


def _details_record(d: TransactionDetails) -> dict[str, object]:
    return {
        "signature": d.signature,
        "slot": d.slot,
        "blockTime": d.block_time,
        "fee": d.fee,
        "cu": d.compute_units,
        "err": d.err,
        "custom": d.custom_error,
        "logs": list(d.logs),
        "tokens": [
            [str(c.account), str(c.mint), str(c.owner), c.pre, c.post] for c in d.token_balances
        ],
        "lamports": [[str(k), pre, post] for k, pre, post in d.lamport_balances],
        "memo": d.memo,
    }


def _details_from(r: dict[str, object]) -> TransactionDetails:
    tokens = r["tokens"]
    lamports = r["lamports"]
    assert isinstance(tokens, list) and isinstance(lamports, list)
    return TransactionDetails(
        signature=str(r["signature"]),
        slot=int(str(r["slot"])),
        block_time=int(str(r["blockTime"])),
        fee=int(str(r["fee"])),
        compute_units=int(str(r["cu"])),
        err=None if r["err"] is None else str(r["err"]),
        custom_error=None if r["custom"] is None else int(str(r["custom"])),
        logs=tuple(str(line) for line in r["logs"]),  # type: ignore[attr-defined]
        token_balances=tuple(
            TokenBalanceChange(
                Pubkey.from_string(a), Pubkey.from_string(m), Pubkey.from_string(o), pre, post
            )
            for a, m, o, pre, post in tokens
        ),
        lamport_balances=tuple((Pubkey.from_string(k), pre, post) for k, pre, post in lamports),
        memo=None if r.get("memo") is None else str(r["memo"]),
    )
