"""`order-engine` command line: serve, api, worker, migrate, watch, launch, chain, programs,
pools, localnet, accounts, keys; and a client of a running engine: submit, orders, order,
cancel, quote (`order_engine.client`).

Heavy imports (web framework, ORM, Redis) happen inside the commands, so that a
configuration error is reported at once."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from order_engine import accounts_cli, chain_cli, pools_cli, programs_cli
from order_engine.client import commands as client_commands
from order_engine.client_key import add_connection_options, engine_url
from order_engine.launch_cli import launch as launch_token
from order_engine.localnet.command import add_commands as add_localnet
from order_engine.logsetup import configure_logging
from order_engine.settings import Settings
from order_engine.watch import watch as watch_order

log = logging.getLogger("order_engine.cli")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "worker_concurrency", "worker_metrics_port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
            os.environ[name.upper()] = str(value)  # also for `api --workers N` children
    return Settings(**overrides)


def _setup_logging(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)


def _fail(message: str) -> int:
    print(f"order-engine: {message}", file=sys.stderr)
    return 2


def _preflight(settings: Settings, command: str) -> str | None:
    """A one-line reason the command cannot start, or None."""
    problem = settings.problem_for(command)
    if problem is not None:
        return problem
    from order_engine.bootstrap import ConfigurationError, preflight  # noqa: PLC0415
    from order_engine.domain.errors import EngineError  # noqa: PLC0415

    try:
        asyncio.run(preflight(settings, command))
    except ConfigurationError as exc:
        return str(exc)
    except EngineError as exc:
        return exc.message
    return None


def _started(args: argparse.Namespace, command: str) -> Settings | None:
    """The settings, checked by a preflight, with logging set up; None (after printing the
    reason) if `command` cannot start."""
    settings = _settings(args)
    problem = _preflight(settings, command)
    if problem is not None:
        _fail(problem)
        return None
    _setup_logging(settings)
    return settings


def _announce(settings: Settings, text: str) -> None:
    """A line for people on stderr; with LOG_FORMAT=json, a log record like every line."""
    if settings.log_format == "json":
        log.info("%s", text)
    else:
        print(f"order-engine: {text}", file=sys.stderr)


def _serve_http(settings: Settings, app: Any, **extra: Any) -> int:
    import uvicorn  # noqa: PLC0415

    from order_engine.api.server import server_protocols  # noqa: PLC0415

    _announce(
        settings,
        f"serving on {settings.resolved_public_base_url} "
        f"(database {settings.resolved_database_url}, "
        f"{'Redis ' + settings.redis_url if settings.redis_url else 'in-process queue'}); "
        f"docs at {settings.resolved_public_base_url}/docs",
    )
    _announce(
        settings,
        f"dashboard: open {settings.resolved_public_base_url}/ in a browser and sign in with "
        f"an API key ({settings.data_dir / 'admin.key'} after serve's first start)",
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal through the
    # handler that was installed before it: make that one a no-op so a clean stop exits 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        loop="uvloop",
        # uvicorn's, answering its own errors in our JSON shape; the WebSocket keepalive
        **server_protocols(settings.ws_ping_interval_s, settings.ws_ping_timeout_s),
        ws_per_message_deflate=False,
        log_config=None,  # uvicorn's lines go through ours (text or JSON)
        access_log=False,  # ours: `order_engine.access`, the hot paths included
        lifespan="on",
        **extra,
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    settings = _started(args, "serve")
    if settings is None:
        return 2
    from order_engine.bootstrap import build_app  # noqa: PLC0415

    return _serve_http(settings, build_app(settings, freeze_heap=True))


def _api(args: argparse.Namespace) -> int:
    settings = _started(args, "api")
    if settings is None:
        return 2
    if args.workers > 1:
        target = "order_engine.bootstrap:api_app_from_env"
        return _serve_http(settings, target, factory=True, workers=args.workers)
    from order_engine.bootstrap import build_app  # noqa: PLC0415

    app = build_app(settings, workers=False, command="api", freeze_heap=True)
    return _serve_http(settings, app)


def _worker(args: argparse.Namespace) -> int:
    settings = _started(args, "worker")
    if settings is None:
        return 2
    import uvloop  # noqa: PLC0415

    from order_engine.bootstrap import run_worker  # noqa: PLC0415

    uvloop.run(
        run_worker(settings, freeze_heap=True)
    )  # the API runs on uvloop too (measured: +35% orders/s)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    problem = settings.problem_for("migrate")
    if problem is not None:
        return _fail(problem)
    from order_engine.bootstrap import migrate_database  # noqa: PLC0415
    from order_engine.domain.errors import EngineError  # noqa: PLC0415

    try:
        where = asyncio.run(migrate_database(settings))
    except EngineError as exc:
        return _fail(exc.message)
    print(f"order-engine: {where} is at the newest schema", file=sys.stderr)
    return 0


def _add(
    sub: Any, name: str, help_text: str, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.set_defaults(run=run)
    return parser


def _http_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="bind address (setting HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (setting PORT)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="order-engine", description="Order execution engine for Solana DEX swaps"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = _add(
        sub,
        "serve",
        "API and workers in one process (default: SQLite and an "
        "in-process queue and event bus; no servers needed)",
        _serve,
    )
    _http_options(serve)
    api = _add(sub, "api", "HTTP and WebSocket only (production: PostgreSQL + Redis)", _api)
    _http_options(api)
    api.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    _worker_command(sub)
    _add(sub, "migrate", "apply the database migrations to DATABASE_URL", _migrate)
    watch = _add(
        sub,
        "watch",
        "print an order's lifecycle events (JSON lines) until its stream closes",
        lambda a: watch_order(a.order, _engine_url(a), a.after, a.api_key),
    )
    watch.add_argument("order", help="an orderId or the wsUrl returned by POST")
    _url_option(watch)
    watch.add_argument("--after", type=int, default=None, help="resume after this seq")
    _launch_command(sub)
    client_commands.add_commands(sub)
    chain_cli.add_commands(sub)
    programs_cli.add_commands(sub)
    pools_cli.add_commands(sub)
    add_localnet(sub)
    accounts_cli.add_commands(sub)
    return parser


def _worker_command(sub: Any) -> None:
    worker = _add(sub, "worker", "execute orders from the Redis queue (production)", _worker)
    worker.add_argument(
        "--concurrency",
        dest="worker_concurrency",
        type=int,
        default=None,
        help="orders in flight in this process (setting WORKER_CONCURRENCY)",
    )
    worker.add_argument(
        "--metrics-port",
        dest="worker_metrics_port",
        type=int,
        default=None,
        help="serve this worker's Prometheus metrics on this port (setting "
        "WORKER_METRICS_PORT; default off)",
    )


def _launch_command(sub: Any) -> None:
    launch = _add(
        sub,
        "launch",
        "launch a token on a running engine: open its first pool on a simulated venue",
        lambda a: launch_token(
            _engine_url(a),
            {
                "symbol": a.symbol,
                "venue": a.venue,
                "price": a.price,
                "quote": a.quote,
                "decimals": a.decimals,
                "depthUsd": a.depth_usd,
            },
            a.api_key,
        ),
    )
    launch.add_argument("symbol", help="the new token, e.g. PEPE")
    launch.add_argument("--venue", required=True, help="raydium or meteora")
    launch.add_argument("--price", required=True, help="quote tokens per new token, e.g. 0.0005")
    launch.add_argument("--quote", default="SOL", help="the token it pairs with (default SOL)")
    launch.add_argument("--decimals", type=int, default=6, help="the token's decimals (default 6)")
    launch.add_argument("--depth-usd", default="200000", help="pool depth, USD a side")
    _url_option(launch)


def _url_option(parser: argparse.ArgumentParser) -> None:
    add_connection_options(parser)


def _engine_url(args: argparse.Namespace) -> str:
    """`--url`, else `ORDER_ENGINE_URL`, else where the settings say the engine serves."""
    return engine_url(args.url)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except ValidationError as exc:
        return _fail(f"invalid settings:\n{exc}")
    return result


if __name__ == "__main__":
    sys.exit(main())
