"""`order-engine serve` on the chain venues, killed with SIGKILL in the middle of swaps and
started again on the same data directory: every order ends once, with the transaction it
sent before the kill, and the chain (restored from its journal) holds exactly one swap per
order."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from order_engine.chain.memo import ORDER_PREFIX
from order_engine.chain.wallet import load_wallet
from tests.chain_helpers import local_chain, program_binaries
from tests.e2e.harness import assert_lifecycle
from tests.e2e.test_cli_e2e import ORDER_ENGINE, env_with, free_port, serving, wait_healthy

HAPPY = ["pending", "routing", "building", "submitted", "confirmed"]
ORDER = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1.5", "slippageBps": 200}
SEED = 11


def start(cwd: Path, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    """The victim: its swaps land 4 slots (1.6 s) after they are sent, so the kill, made
    once both orders are `submitted`, comes while they are in flight even on a loaded
    machine (at the next slot, up to 400 ms, the first one sometimes landed before it)."""
    settings = {
        "port": port, "data_dir": data_dir, "venues": "chain", "latency_scale": 1,
        "programs_dir": program_binaries().source, "rng_seed": SEED, "backoff_base_s": 0.05,
        "chain_landing_delay_slots": 3,
    }  # fmt: skip
    log = cwd / "victim.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(ORDER_ENGINE), "serve"], cwd=cwd, env=env_with(**settings),
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_healthy(process, f"http://127.0.0.1:{port}", log)
    return process


def wait_submitted(client: httpx.Client, ids: list[str]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [client.get(f"/api/orders/{i}").json()["status"] for i in ids]
        if all(s == "submitted" for s in found):
            return
        time.sleep(0.005)
    pytest.fail(f"orders not submitted in time: {found}")


def test_sigkill_mid_swap_then_restart_executes_each_order_once(tmp_path: Path) -> None:
    port, data_dir = free_port(), tmp_path / "data"
    victim = start(tmp_path, port, data_dir)
    try:
        auth = {"Authorization": f"Bearer {(data_dir / 'admin.key').read_text().strip()}"}
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10, headers=auth) as client:
            ids = [client.post("/api/orders/execute", json=ORDER).json()["orderId"]
                   for _ in range(2)]  # fmt: skip
            wait_submitted(client, ids)
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(5) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
    with contextlib.closing(sqlite3.connect(data_dir / "chain.db")) as journal:
        memos = [f"{ORDER_PREFIX}{i}" for i in ids]
        held = [journal.execute("SELECT COUNT(*) FROM txs WHERE memo = ?", (m,)).fetchone()[0]
                for m in memos]  # fmt: skip
    assert held == [0, 0], "the kill must come while the swaps are in flight"
    settings = {
        "port": port, "data_dir": data_dir, "venues": "chain", "latency_scale": 1,
        "programs_dir": program_binaries().source, "rng_seed": SEED,
    }  # fmt: skip
    with serving(tmp_path, port, **settings) as srv:
        streams = [srv.stream(i) for i in ids]
    for order_id, events in zip(ids, streams, strict=True):
        assert [e["status"] for e in events] == HAPPY, srv.log.read_text()
        assert_lifecycle(events, order_id, "confirmed")
        submitted = next(e for e in events if e["status"] == "submitted")
        assert events[-1]["txHash"] == submitted["txHash"]  # the bytes sent before the kill
    wallet = load_wallet(data_dir / "wallet.json")
    chain = local_chain(wallet, data_dir=data_dir, seed=SEED, slot_s=0.4).chain
    try:
        for order_id, events in zip(ids, streams, strict=True):
            landed = asyncio.run(_landed(chain, order_id))
            assert landed == [events[-1]["txHash"]]
    finally:
        asyncio.run(chain.close())


async def _landed(chain: object, order_id: str) -> list[str]:
    from order_engine.chain.inprocess import InProcessChain

    assert isinstance(chain, InProcessChain)
    out = []
    for signature in chain.signatures_with_memo(f"{ORDER_PREFIX}{order_id}"):
        details = await chain.transaction(signature)
        if details is not None and details.err is None:
            out.append(signature)
    return out
