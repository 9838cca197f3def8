"""`order-engine pools discover` against `order-engine localnet` (both real console scripts):
it finds exactly the genesis Raydium pool and DLMM pair of a pair through filtered
`getProgramAccounts`; an unknown symbol or an unreachable RPC exits 2 with one line, and a
cluster holding no pool for the pair exits 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import orjson
import pytest

from order_engine.chain.listing import dlmm_keys, raydium_keys
from order_engine.domain.tokens import TOKENS
from order_engine.pools_cli import discover
from tests.e2e.test_cli_e2e import ORDER_ENGINE, env_with, free_port
from tests.e2e.test_localnet_e2e import localnet


def _discover(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORDER_ENGINE), "pools", "discover", "--rpc", url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env_with(),
    )


def _pools(stdout: str) -> dict[str, list[str]]:
    """venue -> the fields of its one line (each venue must be listed once)."""
    lines = [line.split() for line in stdout.strip().splitlines()]
    venues = [fields[0] for fields in lines]
    assert len(venues) == len(set(venues)), stdout
    return {fields[0]: fields[1:] for fields in lines}


def _assert_found(url: str, base: str, quote: str) -> None:
    a, b = TOKENS[base], TOKENS[quote]
    done = _discover(url, "--pair", f"{base}/{quote}")
    assert done.returncode == 0, done.stderr
    pools = _pools(done.stdout)
    assert set(pools) == {"raydium", "meteora"}, done.stdout
    raydium, meteora = pools["raydium"], pools["meteora"]
    assert raydium[0] == str(raydium_keys(a, b).pool)
    assert raydium[1:5] == ["base", a.swap_mint, "quote", b.swap_mint]
    assert raydium[5] == "vaults" and all(int(v) > 0 for v in raydium[6:8]), raydium
    pair = dlmm_keys(a, b)
    assert meteora[0] == str(pair.lb_pair)
    assert meteora[1:5] == ["base", str(pair.mint_x), "quote", str(pair.mint_y)]
    assert meteora[5] == "active_bin" and meteora[7] == "bin_step", meteora
    only = _discover(url, "--pair", f"{quote}/{base}", "--venue", "meteora")
    assert only.returncode == 0, only.stderr
    assert list(_pools(only.stdout)) == ["meteora"]
    assert _pools(only.stdout)["meteora"][0] == str(pair.lb_pair)


def test_pools_discover_finds_the_genesis_pools(tmp_path: Path) -> None:
    with localnet(tmp_path, data_dir=tmp_path / "data") as node:
        _assert_found(node.url, "SOL", "USDC")
        _assert_found(node.url, "BONK", "JUP")
        unknown = _discover(node.url, "--pair", "NOPE/USDC")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    assert unknown.stderr.startswith("order-engine: unknown token 'NOPE'")


def test_pools_discover_without_a_node_exits_2() -> None:
    done = _discover(f"http://127.0.0.1:{free_port()}", "--pair", "SOL/USDC")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("order-engine: cannot reach http://127.0.0.1:")


def test_pools_discover_finding_nothing_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    methods: list[str] = []

    def empty(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        methods.append(body["method"])
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": []})

    assert discover("http://rpc", "SOL/USDC", None, httpx.MockTransport(empty)) == 1
    assert methods == ["getProgramAccounts"] * 3  # Raydium, then DLMM with X/Y both ways
    out, err = capsys.readouterr()
    assert out == "" and err == "order-engine: no pool for SOL/USDC on http://rpc\n"


def test_pools_discover_takes_the_mints_from_a_pools_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devnet_usdc = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
    pools_file = tmp_path / "pools.toml"
    pools_file.write_text(f'[tokens.USDC]\nmint = "{devnet_usdc}"\ndecimals = 6\n')
    filters: list[object] = []

    def empty(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        filters.append(body["params"][1]["filters"])
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": []})

    transport = httpx.MockTransport(empty)
    found = discover("http://rpc", "SOL/USDC", "raydium", transport, pools_file=pools_file)
    assert found == 1
    assert devnet_usdc in orjson.dumps(filters).decode()
    assert TOKENS["USDC"].mint not in orjson.dumps(filters).decode()
    capsys.readouterr()
