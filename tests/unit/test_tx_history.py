"""The in-process chain's history of executed transactions: with a journal, memory keeps
only the latest (`RECENT_DETAILS`) while every status and detail is still answered (from
the journal); without one, memory keeps them all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from order_engine.chain import history
from order_engine.chain.history import TxHistory
from order_engine.chain.journal import ChainJournal
from order_engine.chain.port import TransactionDetails


def executed(i: int) -> TransactionDetails:
    err = None if i % 3 else "InstructionError(2, Custom(6005))"
    return TransactionDetails(
        signature=f"sig-{i}", slot=10 + i, block_time=1_800_000_000, fee=5_000,
        compute_units=57_000, err=err, custom_error=None if err is None else 6005,
        logs=("Program log: swap",), memo=f"order:{i}",
    )  # fmt: skip


def record(kept: TxHistory, count: int) -> None:
    for i in range(count):
        kept.record(b"\x01" + os.urandom(64) + bytes([i % 256]), executed(i), "payer")


def test_a_journaled_history_keeps_only_the_latest_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "RECENT_DETAILS", 8)
    kept = TxHistory(ChainJournal(tmp_path / "chain.db"))
    record(kept, 50)
    assert len(kept._executed) <= 8 and len(kept._details) <= 8
    for i in (0, 1, 25, 49):  # the oldest come back from the journal
        status = kept.executed(f"sig-{i}")
        assert status is not None and status.slot == 10 + i
        assert (status.err is None) == bool(i % 3)
        details = kept.details(f"sig-{i}")
        assert details is not None and details.memo == f"order:{i}"
    assert kept.executed("sig-50") is None


def test_without_a_journal_memory_keeps_every_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "RECENT_DETAILS", 8)
    kept = TxHistory(None)
    record(kept, 50)
    assert all(kept.executed(f"sig-{i}") is not None for i in range(50))
    assert kept.with_memo("order:3") == ["sig-3"]
