"""`order-engine` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from pydantic import ValidationError

from order_engine.settings import Settings
from order_engine.watch import watch as watch_order


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    problem = settings.unsupported_reason()
    if problem is not None:
        print(f"order-engine: {problem}", file=sys.stderr)
        return 2
    # imported here so that a configuration error is reported at once, not after ~2 s of
    # importing the web framework and the ORM
    import uvicorn  # noqa: PLC0415

    from order_engine.bootstrap import build_app  # noqa: PLC0415

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    print(
        f"order-engine: serving on {settings.resolved_public_base_url} "
        f"(database {settings.resolved_database_url}); docs at "
        f"{settings.resolved_public_base_url}/docs",
        file=sys.stderr,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal through the
    # handler that was installed before it: make that one a no-op so a clean stop exits 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    uvicorn.run(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        access_log=False,
        lifespan="on",
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="order-engine", description="Order execution engine for Solana DEX swaps"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run API and workers in one process (SQLite, in-process queue and event bus)"
    )
    serve.add_argument("--host", default=None, help="bind address (setting HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (setting PORT)")
    serve.set_defaults(run=_serve)
    watch = sub.add_parser(
        "watch", help="print an order's lifecycle events (JSON lines) until its stream closes"
    )
    watch.add_argument("order", help="an orderId or the wsUrl returned by POST")
    watch.add_argument(
        "--url",
        default="http://127.0.0.1:3000",
        help="the engine's base URL (default http://127.0.0.1:3000)",
    )
    watch.add_argument("--after", type=int, default=None, help="resume after this seq")
    watch.set_defaults(run=lambda a: watch_order(a.order, a.url, a.after))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except ValidationError as exc:
        print(f"order-engine: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
