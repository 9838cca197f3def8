"""`order-engine chain pools|tx`, the real console script, against a running chain-mode
engine (served in the test's event loop; the command runs as its own process)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from order_engine.settings import Settings
from tests.chain_helpers import program_binaries
from tests.e2e.harness import free_socket, running_engine

ORDER_ENGINE = Path(sys.executable).parent / "order-engine"


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def order_engine(*args: str, cwd: Path, **settings: Any) -> Ran:
    """The command in `cwd`, with no engine setting from this environment but `settings`."""
    names = set(Settings.model_fields)
    env = {k: v for k, v in os.environ.items() if k.lower() not in names}
    env.update({k.upper(): str(v) for k, v in settings.items()})
    if (cwd / "admin.key").exists():  # the running engine's data dir: send its admin key
        env["ORDER_ENGINE_API_KEY"] = (cwd / "admin.key").read_text().strip()
    process = await asyncio.create_subprocess_exec(
        str(ORDER_ENGINE), *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def chain_engine(tmp_path: Path) -> Any:
    binaries = program_binaries()
    return running_engine(tmp_path, venues="chain", programs_dir=binaries.source)


async def test_chain_pools_prints_a_table_of_every_pool(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        ran = await order_engine("chain", "pools", "--url", eng.base_url, cwd=tmp_path)
        listed = (await eng.client.get("/api/chain/pools")).json()
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].startswith("42 pools at slot ")
    assert lines[1].split() == [
        "VENUE", "PAIR", "PRICE", "RESERVE", "BASE", "RESERVE", "QUOTE", "ACTIVE", "BIN",
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 42
    assert {(r[0], r[1]) for r in rows} == {(p["venue"], p["pair"]) for p in listed["pools"]}
    (raydium,) = [r for r in rows if r[:2] == ["raydium", "WSOL/USDC"]]
    assert abs(Decimal(raydium[2]) - 150) < Decimal("1.5")
    assert raydium[4] == "WSOL" and raydium[6] == "USDC"
    assert raydium[5].replace(",", "").replace(".", "").isdigit()  # 1,999,xxx.xxxxxx
    (meteora,) = [r for r in rows if r[:2] == ["meteora", "WSOL/USDC"]]
    assert meteora[-3:-1] == ["(step", "10"]


async def test_chain_tx_prints_the_swap(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        order_id = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"})
        events = await eng.stream(order_id)
        signature = events[-1]["txHash"]
        ran = await order_engine("chain", "tx", signature, "--url", eng.base_url, cwd=tmp_path)
        tx = (await eng.client.get(f"/api/chain/tx/{signature}")).json()
        wallet = eng.engine.venue_set.wallet
    assert ran.code == 0, ran.err
    out = ran.out
    assert out.startswith(f"transaction {signature}\n")
    assert f"slot           {tx['slot']} (finalized)" in out
    assert "status         landed" in out
    assert f"fee            {tx['fee']:,} lamports" in out
    assert f"compute units  {tx['computeUnits']:,}" in out
    assert f"memo           order:{order_id}" in out
    (usdc,) = [line for line in out.splitlines() if str(wallet) in line and "USDC" in line]
    change = usdc.split()[-2]
    assert change.startswith("+")
    assert Decimal(change.replace(",", "")) == Decimal(events[-1]["amountOut"])
    assert f"logs ({len(tx['logs'])})" in out


async def test_the_default_url_comes_from_the_settings(tmp_path: Path) -> None:
    async with chain_engine(tmp_path) as eng:
        port = eng.base_url.rsplit(":", 1)[1]
        ran = await order_engine("chain", "pools", cwd=tmp_path, host="127.0.0.1", port=port)
    assert ran.code == 0, ran.err
    assert ran.out.startswith("42 pools at slot ")


async def test_an_unknown_signature_and_a_sim_engine_are_one_line_errors(tmp_path: Path) -> None:
    unknown = "1" * 64
    async with chain_engine(tmp_path / "chain") as eng:
        where = tmp_path / "chain"
        missing = await order_engine("chain", "tx", unknown, "--url", eng.base_url, cwd=where)
    async with running_engine(tmp_path / "sim", venues="sim") as eng:
        sim = await order_engine("chain", "pools", "--url", eng.base_url, cwd=tmp_path / "sim")
    assert (missing.code, missing.out) == (1, "")
    assert missing.err.strip() == (
        f"order-engine: transaction_not_found: the chain has no transaction {unknown} (HTTP 404)"
    )
    assert (sim.code, sim.out) == (1, "")
    assert len(sim.err.strip().splitlines()) == 1 and "simulated venues" in sim.err


async def test_an_engine_that_is_not_running_is_one_line(tmp_path: Path) -> None:
    with free_socket() as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        ran = await order_engine("chain", "pools", "--url", url, cwd=tmp_path)
    assert (ran.code, ran.out) == (1, "")
    assert ran.err.strip().splitlines() == [
        f"order-engine: cannot reach the engine at {url}: [Errno 111] Connection refused"
    ]
