"""`order-engine localnet [--host HOST] [--port 8899]`: the local chain served over
Solana JSON-RPC until SIGTERM or Ctrl-C (then the chain is snapshotted).

Once it listens it prints one line on stdout: the URL, the genesis hash (as
`getGenesisHash` answers it) and the data directory. A chain that cannot open (no program
binaries, a wallet file that is not a keypair, another chain's `chain.db`) exits 2 with one
line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from order_engine.settings import Settings

DEFAULT_PORT = 8899  # Solana's JSON-RPC port


def add_commands(sub: Any) -> None:
    """`localnet` under `sub` (the CLI's subparsers)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "localnet",
        help="serve the local chain (the real Raydium CPMM and Meteora DLMM programs) over "
        "Solana JSON-RPC",
    )
    parser.add_argument("--host", default=None, help="bind address (default: setting HOST)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvloop  # noqa: PLC0415

    from order_engine.bootstrap.factories import ConfigurationError  # noqa: PLC0415
    from order_engine.bootstrap.heap import freeze_startup_heap  # noqa: PLC0415
    from order_engine.localnet.app import serve  # noqa: PLC0415
    from order_engine.localnet.node import open_localnet  # noqa: PLC0415

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        node = open_localnet(settings)
    except ConfigurationError as exc:
        print(f"order-engine: {exc}", file=sys.stderr)
        return 2
    freeze_startup_heap()  # the chain, its programs and accounts live as long as the process
    host = args.host or settings.host
    shown = "localhost" if host in {"0.0.0.0", "::", ""} else host
    line = (
        f"order-engine: localnet serving Solana JSON-RPC on http://{shown}:{args.port} "
        f"(genesis {node.genesis_hash}, data {settings.data_dir.resolve()})"
    )
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal through the
    # handler installed before it: a no-op one makes a clean stop exit 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:  # on uvloop, like the API and the worker
        uvloop.run(serve(node, host, args.port, settings.log_level, line))
    finally:
        asyncio.run(node.close())  # if the server never started (the lifespan closes it)
    return 0
