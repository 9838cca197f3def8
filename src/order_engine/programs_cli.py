"""`order-engine programs fetch --rpc URL [--dir DIR]`: the program binaries from any
Solana cluster, over JSON-RPC.

For each program id of `PROGRAM_FILES`: `getAccountInfo` of the program account (owned by
the upgradeable BPF loader: a u32 tag 2 = Program, then the 32-byte programdata address),
then of its programdata account (tag 3, slot, optional authority: 45 bytes, then the ELF).
Both binaries are fetched before either is written, each file atomically, to
`DIR/<file name>` (default `DATA_DIR/programs`, where the engine looks for them). What
`solana program dump` writes. Exit 0, or 2 with one line on stderr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from solders.pubkey import Pubkey

from order_engine.chain.programs import PROGRAM_FILES, elf_from_programdata
from order_engine.settings import Settings

UPGRADEABLE_LOADER = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
PROGRAM_TAG = 2
PROGRAMDATA_TAG = 3
PROGRAM_ACCOUNT_SIZE = 36  # u32 tag + programdata address
RPC_TIMEOUT_S = 60.0


class FetchError(Exception):
    """Why the binaries could not be fetched (one line)."""


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    size: int
    sha256: str


def add_commands(sub: Any) -> None:
    """`programs fetch` under `sub` (the CLI's subparsers)."""
    programs = sub.add_parser("programs", help="the Raydium CPMM and Meteora DLMM binaries")
    inner = programs.add_subparsers(dest="programs_command", required=True)
    fetch_ = inner.add_parser(
        "fetch", help="dump both program binaries from a Solana cluster (JSON-RPC)"
    )
    fetch_.add_argument("--rpc", required=True, help="the cluster's JSON-RPC URL")
    fetch_.add_argument(
        "--dir", type=Path, default=None, help="where to write them (default DATA_DIR/programs)"
    )
    fetch_.set_defaults(run=lambda a: fetch(a.rpc, a.dir))


def fetch(
    rpc_url: str, directory: Path | None, transport: httpx.BaseTransport | None = None
) -> int:
    """The command: fetch, write, print each file and its SHA-256; exit 0, or 2."""
    target = directory if directory is not None else Settings().data_dir / "programs"
    try:
        with httpx.Client(transport=transport, timeout=RPC_TIMEOUT_S) as client:
            written = fetch_programs(RpcClient(client, rpc_url), target)
    except FetchError as exc:
        print(f"order-engine: {exc}", file=sys.stderr)
        return 2
    for item in written:
        print(f"wrote {item.path} ({item.size:,} bytes) sha256 {item.sha256}")
    return 0


def fetch_programs(rpc: RpcClient, directory: Path) -> list[Written]:
    """Fetch every program of `PROGRAM_FILES`, then write them into `directory`."""
    binaries = {name: program_elf(rpc, program_id) for name, program_id in PROGRAM_FILES.items()}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return [_write(directory / name, elf) for name, elf in binaries.items()]
    except OSError as exc:
        raise FetchError(f"cannot write into {directory}: {exc.strerror or exc}") from exc


def _write(path: Path, data: bytes) -> Written:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return Written(path, len(data), hashlib.sha256(data).hexdigest())


def program_elf(rpc: RpcClient, program_id: Pubkey) -> bytes:
    """The ELF of an upgradeable program: its account, then its programdata account."""
    program = rpc.account(program_id)
    if program is None:
        raise FetchError(f"program {program_id} does not exist on {rpc.url}")
    owner, data = program
    if owner != UPGRADEABLE_LOADER or len(data) < PROGRAM_ACCOUNT_SIZE or _tag(data) != PROGRAM_TAG:
        raise FetchError(
            f"{program_id} on {rpc.url} is not an upgradeable program (owner {owner}, "
            f"{len(data)} bytes)"
        )
    programdata_key = Pubkey.from_bytes(data[4:PROGRAM_ACCOUNT_SIZE])
    programdata = rpc.account(programdata_key)
    if programdata is None:
        raise FetchError(
            f"the programdata account {programdata_key} of {program_id} does not exist on {rpc.url}"
        )
    owner, data = programdata
    if owner != UPGRADEABLE_LOADER or _tag(data) != PROGRAMDATA_TAG:
        raise FetchError(f"{programdata_key} is not the programdata account of {program_id}")
    try:
        return elf_from_programdata(data)
    except ValueError as exc:
        raise FetchError(f"the programdata of {program_id} holds no program: {exc}") from exc


def _tag(data: bytes) -> int | None:
    return None if len(data) < 4 else int(struct.unpack_from("<I", data)[0])


class RpcClient:
    """Just `getAccountInfo` of a Solana JSON-RPC endpoint, errors as `FetchError`."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client, self.url = client, url

    def account(self, key: Pubkey) -> tuple[Pubkey, bytes] | None:
        """(owner, data) of `key`'s account, or None if there is none."""
        value = self._call("getAccountInfo", [str(key), {"encoding": "base64"}])["value"]
        if value is None:
            return None
        try:
            encoded, encoding = value["data"]
            if encoding != "base64":
                raise ValueError(f"{encoding} encoding")
            return Pubkey.from_string(value["owner"]), base64.b64decode(encoded, validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise FetchError(f"{self.url} sent an account {key} we cannot read: {exc}") from exc

    def _call(self, method: str, params: list[Any]) -> dict[str, Any]:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            response = self.client.post(self.url, json=request)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            why = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise FetchError(f"cannot reach {self.url}: {why}") from exc
        if response.status_code != 200:
            raise FetchError(f"{self.url} answered {method} with HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise FetchError(f"{self.url} is not a JSON-RPC endpoint (no JSON)") from exc
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = (str(body["error"].get("message", "")).splitlines() or ["error"])[0]
            raise FetchError(f"{self.url} refused {method}: {message}")
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict) or "value" not in result:
            raise FetchError(f"{self.url} sent no {method} result")
        return result
