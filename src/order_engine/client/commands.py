"""`order-engine submit | orders | order | cancel | quote`: a trader's client of any engine.

Each command talks to `--url` (else `ORDER_ENGINE_URL`, else this machine's settings) with
an API key (`--api-key`, else `ORDER_ENGINE_API_KEY`, else `DATA_DIR/admin.key`), prints for
people (rich; plain text when not a terminal or with `NO_COLOR`) or, with `--json`, the
API's JSON (`submit`: its events, one JSON object per line).

Exit codes: 0 done (`submit`: the order confirmed, or was accepted with `--no-wait`); 1 the
order failed, expired or was cancelled, or the engine refused or could not be reached (one
line on stderr: `order-engine: <code>: <message>`); 2 a usage error; 130 interrupted
(`submit` stops following; the order goes on)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from order_engine.client.connection import ClientError, EngineClient, stream_token
from order_engine.client.following import follow_order
from order_engine.client.output import console, emit
from order_engine.client.progress import Terms
from order_engine.client.views import cancelled_view, order_view, orders_table, quote_view
from order_engine.client_key import add_connection_options, engine_url

STATUSES = (
    *("pending", "waiting", "routing", "building", "submitted"),
    *("confirmed", "failed", "cancelled", "expired"),
)
Command = Callable[[EngineClient, argparse.Namespace], int]


def add_commands(sub: Any) -> None:
    """The client's commands under `sub` (the CLI's subparsers)."""
    _submit_command(sub)
    orders = _command(sub, "orders", "list orders, newest first, as a table", _orders)
    orders.add_argument("--status", choices=STATUSES, help="only orders in this status")
    orders.add_argument("--user-id", help="only orders with this userId label")
    orders.add_argument("--limit", type=int, default=20, help="how many (1-200, default 20)")
    orders.add_argument("--cursor", help="the next page (printed under a full page)")
    order = _command(sub, "order", "one order: terms, fill, transactions, timeline", _order)
    order.add_argument("order_id", metavar="ID", help="the orderId")
    cancel = _command(sub, "cancel", "cancel an order not yet submitted", _cancel)
    cancel.add_argument("order_id", metavar="ID", help="the orderId")
    quote_ = _command(sub, "quote", "the route an order would take now, without executing", _quote)
    quote_.add_argument("token_in", metavar="TOKEN_IN", help="what to sell, e.g. SOL")
    quote_.add_argument("token_out", metavar="TOKEN_OUT", help="what to buy, e.g. USDC")
    quote_.add_argument("amount", metavar="AMOUNT", help="how much TOKEN_IN, e.g. 2")
    quote_.add_argument("--slippage-bps", type=int, help="slippage tolerance (default 50)")


def _command(sub: Any, name: str, help_text: str, run: Command) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.set_defaults(run=lambda args: _run(run, args))
    add_connection_options(parser)
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    return parser


def _submit_command(sub: Any) -> None:
    submit = _command(sub, "submit", "submit an order and follow it to its outcome", _submit)
    submit.add_argument("token_in", metavar="TOKEN_IN", help="what to sell, e.g. SOL")
    submit.add_argument("token_out", metavar="TOKEN_OUT", help="what to buy, e.g. USDC")
    submit.add_argument("amount", metavar="AMOUNT", help="how much TOKEN_IN, e.g. 1.5")
    add = submit.add_argument
    add("--type", choices=("market", "limit", "sniper"), default="market", help="default market")
    add("--slippage-bps", type=int, help="slippage tolerance, 0-5000 (default 50)")
    add("--max-price-impact-bps", type=int, help="the most the order may move the price")
    add("--limit-price", help="limit: least TOKEN_OUT per TOKEN_IN, after fees")
    add("--venue", help="sniper: raydium, meteora or any (default any)")
    add("--max-price", help="sniper: most TOKEN_IN paid per TOKEN_OUT, after fees")
    add("--time-in-force", type=int, metavar="SECONDS", help="limit, sniper: expire after")
    add("--expires-at", metavar="ISO", help="limit, sniper: or expire at (with a zone)")
    add("--client-order-id", help="your id for the order")
    add("--user-id", help="a label of your own, filterable in `orders --user-id`")
    add("--idempotency-key", help="send again with the same key: the same order, once")
    add("--no-wait", action="store_true", help="print the accepted order and exit at once")


def _run(command: Command, args: argparse.Namespace) -> int:
    """The command with a client of the engine; an engine error is one line and exit 1."""
    with _client(args) as engine:
        try:
            return command(engine, args)
        except ClientError as exc:
            print(f"order-engine: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[EngineClient]:
    engine = EngineClient(engine_url(args.url), args.api_key)
    try:
        yield engine
    finally:
        engine.close()


def _order_body(args: argparse.Namespace) -> dict[str, Any]:
    optional = {
        "type": args.type,
        "slippageBps": args.slippage_bps,
        "maxPriceImpactBps": args.max_price_impact_bps,
        "limitPrice": args.limit_price,
        "venue": args.venue,
        "maxPrice": args.max_price,
        "timeInForceSeconds": args.time_in_force,
        "expiresAt": args.expires_at,
        "clientOrderId": args.client_order_id,
        "userId": args.user_id,
    }
    body = {"tokenIn": args.token_in, "tokenOut": args.token_out, "amountIn": args.amount}
    return body | {k: v for k, v in optional.items() if v is not None}


def _submit(engine: EngineClient, args: argparse.Namespace) -> int:
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    accepted = engine.post("/api/orders/execute", _order_body(args), headers)
    order_id = accepted["orderId"]
    if args.no_wait:
        if args.json:
            _print_json(accepted)
        else:
            emit(console(), f"order {order_id} accepted ({accepted['status']})")
        return 0
    terms = Terms(args.type, args.token_in, args.token_out, args.amount)
    events = engine.follow(order_id, stream_token(accepted.get("wsUrl")))
    return follow_order(order_id, terms, events, as_json=args.json)


def _orders(engine: EngineClient, args: argparse.Namespace) -> int:
    params = {"status": args.status, "userId": args.user_id, "limit": args.limit}
    page = engine.get("/api/orders", params | {"cursor": args.cursor})
    _show(page, args.json, orders_table)
    return 0


def _order(engine: EngineClient, args: argparse.Namespace) -> int:
    path = f"/api/orders/{quote(args.order_id, safe='')}"
    order = engine.get(path)
    if args.json:
        _print_json(order)
    else:
        events = engine.get(f"{path}/events")["events"]
        _print(order_view(order, events))
    return 0


def _cancel(engine: EngineClient, args: argparse.Namespace) -> int:
    order = engine.post(f"/api/orders/{quote(args.order_id, safe='')}/cancel", {})
    _show(order, args.json, cancelled_view)
    return 0


def _quote(engine: EngineClient, args: argparse.Namespace) -> int:
    params = {"tokenIn": args.token_in, "tokenOut": args.token_out, "amountIn": args.amount}
    found = engine.get("/api/quote", params | {"slippageBps": args.slippage_bps})
    _show(found, args.json, quote_view)
    return 0


def _show(body: dict[str, Any], as_json: bool, view: Callable[[dict[str, Any]], Any]) -> None:
    if as_json:
        _print_json(body)
    else:
        _print(view(body))


def _print(renderables: list[Any]) -> None:
    out = console()
    for renderable in renderables:
        emit(out, renderable)


def _print_json(body: dict[str, Any]) -> None:
    print(json.dumps(body), flush=True)
