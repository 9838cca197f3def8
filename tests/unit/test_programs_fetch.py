"""`order-engine programs fetch`: the program binaries from a Solana JSON-RPC node, here a
fake one (an httpx `MockTransport`, and once a real local HTTP server for the real
command) serving the real binaries behind programdata headers."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.pubkey import Pubkey

from order_engine.chain.programs import (
    PROGRAM_FILES,
    default_locations,
    elf_from_programdata,
    find_programs,
)
from order_engine.programs_cli import UPGRADEABLE_LOADER, fetch
from tests.chain_helpers import program_binaries

RPC = "http://rpc.test"
ORDER_ENGINE = Path(sys.executable).parent / "order-engine"
AUTHORITY = Pubkey.from_string("GThUX1Atko4tqhN2NaiTazWSeFWMuiUvfFnyJyUghFMJ")
Accounts = dict[str, tuple[Pubkey, bytes]]


def programdata_address(program_id: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([bytes(program_id)], UPGRADEABLE_LOADER)[0]


def cluster(padding: int = 0) -> Accounts:
    """Both programs as a cluster holds them: program account -> programdata account."""
    accounts: Accounts = {}
    for program_id, elf in program_binaries().binaries.items():
        data_key = programdata_address(program_id)
        program = struct.pack("<I", 2) + bytes(data_key)
        header = struct.pack("<IQ", 3, 123_456) + b"\x01" + bytes(AUTHORITY)
        accounts[str(program_id)] = (UPGRADEABLE_LOADER, program)
        accounts[str(data_key)] = (UPGRADEABLE_LOADER, header + elf + bytes(padding))
    return accounts


def answer(accounts: Accounts, request: dict[str, Any]) -> dict[str, Any]:
    """A Solana node's answer to one JSON-RPC request (getAccountInfo only)."""
    base = {"jsonrpc": "2.0", "id": request["id"]}
    if request["method"] != "getAccountInfo":
        return {**base, "error": {"code": -32601, "message": "Method not found"}}
    key, config = request["params"]
    assert config == {"encoding": "base64"}
    found = accounts.get(key)
    value = None
    if found is not None:
        owner, data = found
        value = {
            "data": [base64.b64encode(data).decode(), "base64"],
            "executable": data[:4] == struct.pack("<I", 2),
            "lamports": 1_000_000,
            "owner": str(owner),
            "rentEpoch": 18446744073709551615,
            "space": len(data),
        }
    return {**base, "result": {"context": {"apiVersion": "2.2.0", "slot": 1}, "value": value}}


def node(accounts: Accounts) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer(accounts, json.loads(request.content)))

    return httpx.MockTransport(handle)


def test_fetch_writes_both_binaries_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "programs"
    assert fetch(RPC, target, node(cluster())) == 0
    out = capsys.readouterr().out.splitlines()
    originals = program_binaries().binaries
    for name, program_id in PROGRAM_FILES.items():
        written = (target / name).read_bytes()
        assert written == originals[program_id]
        line = next(line for line in out if name in line)
        assert str(target / name) in line and hashlib.sha256(written).hexdigest() in line
    assert sorted(p.name for p in target.iterdir()) == sorted(PROGRAM_FILES)


def test_the_default_directory_is_where_the_engine_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert fetch(RPC, None, node(cluster())) == 0
    found = find_programs(default_locations(None, tmp_path / "data"))
    assert found.source == tmp_path / "data" / "programs"
    assert found.digest == program_binaries().digest


def test_padding_after_the_program_is_cut_off(tmp_path: Path) -> None:
    assert fetch(RPC, tmp_path, node(cluster(padding=64))) == 0
    for name, program_id in PROGRAM_FILES.items():  # the same bytes: the same genesis hash
        assert (tmp_path / name).read_bytes() == program_binaries().binaries[program_id]


def without(key: Pubkey) -> Accounts:
    accounts = cluster()
    del accounts[str(key)]
    return accounts


def replaced(key: Pubkey, owner: Pubkey, data: Callable[[bytes], bytes]) -> Accounts:
    accounts = cluster()
    accounts[str(key)] = (owner, data(accounts[str(key)][1]))
    return accounts


FIRST = next(iter(PROGRAM_FILES.values()))
BPF_LOADER_2 = Pubkey.from_string("BPFLoader2111111111111111111111111111111111")


def refusing(_: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused")


CASES: dict[str, tuple[httpx.MockTransport, str]] = {
    "unreachable": (httpx.MockTransport(refusing), "cannot reach http://rpc.test"),
    "http-error": (
        httpx.MockTransport(lambda _: httpx.Response(502, text="bad gateway")),
        "HTTP 502",
    ),
    "not-json-rpc": (httpx.MockTransport(lambda _: httpx.Response(200, text="<html>")), "JSON"),
    "rpc-error": (
        httpx.MockTransport(
            lambda _: httpx.Response(
                200, json={"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "busy"}}
            )
        ),
        "refused getAccountInfo: busy",
    ),
    "program-missing": (node(without(FIRST)), f"program {FIRST} does not exist"),
    "programdata-missing": (
        node(without(programdata_address(FIRST))),
        f"programdata account {programdata_address(FIRST)}",
    ),
    "old-loader": (
        node(replaced(FIRST, BPF_LOADER_2, lambda d: b"\x7fELF" + bytes(100))),
        "not an upgradeable program",
    ),
    "buffer-not-program": (
        node(replaced(FIRST, UPGRADEABLE_LOADER, lambda d: struct.pack("<I", 1) + d[4:])),
        "not an upgradeable program",
    ),
    "no-elf": (
        node(replaced(programdata_address(FIRST), UPGRADEABLE_LOADER, lambda d: d[:45] + b"x")),
        "holds no program",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_errors_exit_2_with_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    transport, expected = CASES[case]
    assert fetch(RPC, tmp_path / "programs", transport) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("order-engine: "), captured.err
    assert expected in lines[0]
    assert not (tmp_path / "programs").exists()


@contextmanager
def rpc_server(accounts: Accounts) -> Iterator[str]:
    """A tiny Solana JSON-RPC node on a free local port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps(answer(accounts, request)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_real_command_fetches_over_http(tmp_path: Path) -> None:
    with rpc_server(cluster()) as url:
        done = subprocess.run(
            [str(ORDER_ENGINE), "programs", "fetch", "--rpc", url, "--dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    found = find_programs([tmp_path])
    assert found.binaries == program_binaries().binaries
    assert done.stdout.count("sha256") == len(PROGRAM_FILES)


def test_the_real_command_names_an_unreachable_rpc(tmp_path: Path) -> None:
    with rpc_server({}) as url:
        pass  # closed: nothing listens there any more
    done = subprocess.run(
        [str(ORDER_ENGINE), "programs", "fetch", "--rpc", url, "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"order-engine: cannot reach {url}: [Errno 111] Connection refused"
    )


def test_the_elf_is_cut_at_its_end_so_padding_never_changes_the_genesis() -> None:
    elf = (program_binaries().source / "raydium_cp_swap.so").read_bytes()
    header = struct.pack("<IQ", 3, 1) + b"\x01" + bytes(32)
    assert elf_from_programdata(header + elf + bytes(4096)) == elf
