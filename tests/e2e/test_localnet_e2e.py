"""`order-engine localnet`, the real console script: it prints its URL, genesis hash and
data directory once it listens; `order-engine programs fetch` against it writes the
program binaries byte for byte; a transfer and an airdrop go through real HTTP; SIGTERM
stops it cleanly (exit 0) and a restart on the same data directory is the same chain."""

from __future__ import annotations

import base64
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc import responses as r
from solders.transaction import Transaction

from order_engine.chain import spl
from order_engine.chain.programs import find_programs
from order_engine.chain.wallet import WALLET_FILE, load_wallet
from tests.chain_helpers import program_binaries
from tests.e2e.test_cli_e2e import ORDER_ENGINE, env_with, free_port

START_TIMEOUT_S = 60.0  # a deadline under load, not a speed check (an exit fails at once)
STOP_TIMEOUT_S = 10.0


@dataclass
class Node:
    url: str
    line: str
    client: httpx.Client
    log: Path

    def call(self, method: str, *params: Any) -> str:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        response = self.client.post(self.url, json=request)
        assert response.status_code == 200, response.text
        return response.text


def _wait_listening(process: subprocess.Popen[str], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    health = {"jsonrpc": "2.0", "id": 1, "method": "getHealth"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"localnet exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.post(url, json=health, timeout=0.5).json().get("result") == "ok":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"localnet not listening within {START_TIMEOUT_S}s:\n{log.read_text()}")


@contextmanager
def localnet(cwd: Path, **settings: Any) -> Iterator[Node]:
    """`order-engine localnet` on a free port in `cwd`; SIGTERM must stop it with exit 0."""
    port, log = free_port(), cwd / "localnet.log"
    env = env_with(programs_dir=program_binaries().source, latency_scale=0, **settings)
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(ORDER_ENGINE), "localnet", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_listening(process, url, log)
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        with httpx.Client(timeout=10) as client:
            yield Node(url, line, client, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT_S) == 0, log.read_text()
        assert "Application shutdown complete" in log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _transfer(node: Node, wallet: Keypair, to: Pubkey, lamports: int) -> str:
    latest = r.GetLatestBlockhashResp.from_json(node.call("getLatestBlockhash"))
    assert isinstance(latest, r.GetLatestBlockhashResp)
    blockhash = latest.value.blockhash
    ixs = [spl.transfer_lamports(wallet.pubkey(), to, lamports)]
    tx = Transaction(
        [wallet], Message.new_with_blockhash(ixs, wallet.pubkey(), blockhash), blockhash
    )
    wire = base64.b64encode(bytes(tx)).decode()
    sent = r.SendTransactionResp.from_json(
        node.call("sendTransaction", wire, {"encoding": "base64"})
    )
    assert isinstance(sent, r.SendTransactionResp), sent
    return str(sent.value)


def _balance(node: Node, key: Pubkey) -> int:
    found = r.GetBalanceResp.from_json(node.call("getBalance", str(key)))
    assert isinstance(found, r.GetBalanceResp)
    return found.value


def test_localnet_serves_fetch_sends_and_restarts(tmp_path: Path) -> None:
    data, to = tmp_path / "data", Pubkey.new_unique()
    with localnet(tmp_path, data_dir=data, market_interval_s=0.2) as node:
        genesis = r.GetGenesisHashResp.from_json(node.call("getGenesisHash"))
        assert isinstance(genesis, r.GetGenesisHashResp)
        assert node.line == (
            f"order-engine: localnet serving Solana JSON-RPC on {node.url} "
            f"(genesis {genesis.value}, data {data.resolve()})"
        )
        fetched = subprocess.run(
            [
                str(ORDER_ENGINE),
                "programs",
                "fetch",
                "--rpc",
                node.url,
                "--dir",
                str(tmp_path / "out"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env_with(),
        )
        assert fetched.returncode == 0, fetched.stderr
        assert find_programs([tmp_path / "out"]).binaries == program_binaries().binaries
        signature = _transfer(node, load_wallet(data / WALLET_FILE), to, 2 * 10**9)
        airdrop = r.RequestAirdropResp.from_json(node.call("requestAirdrop", str(to), 10**9))
        assert isinstance(airdrop, r.RequestAirdropResp)
        assert _balance(node, to) == 3 * 10**9
    with localnet(tmp_path, data_dir=data, market_interval_s=0) as node:
        assert f"genesis {genesis.value}," in node.line
        assert _balance(node, to) == 3 * 10**9
        got = r.GetTransactionResp.from_json(node.call("getTransaction", signature))
        assert isinstance(got, r.GetTransactionResp) and got.value is not None
    other = subprocess.run(
        [str(ORDER_ENGINE), "localnet", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
        env=env_with(programs_dir=program_binaries().source, data_dir=data, rng_seed=8),
    )
    assert other.returncode == 2 and other.stdout == ""
    assert len(other.stderr.strip().splitlines()) == 1, other.stderr
    assert other.stderr.startswith("order-engine: ") and "holds another chain" in other.stderr
