"""`order-engine accounts fund ACCOUNT TOKEN AMOUNT`: ask the running engine to fund an
account's wallet on its local chain (`POST /api/admin/accounts/{name}/fund`, an admin
key). The engine's URL: `--url`, else where the settings say it serves. The key:
`--api-key`, else `ORDER_ENGINE_API_KEY`, else the admin key an embedded `serve` wrote to
`DATA_DIR/admin.key` (`client_key`). The key is sent, never printed."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

import httpx

from order_engine.client_key import OPTION_HELP, auth_headers
from order_engine.settings import Settings


def add_command(accounts: Any) -> None:
    """`fund` under `accounts`' subparsers."""
    fund = accounts.add_parser(
        "fund", help="fund an account's wallet on the running engine's local chain (admin)"
    )
    fund.add_argument("account", help="the account's name or id")
    fund.add_argument("token", help="SOL (airdropped) or a token (minted), e.g. USDC")
    fund.add_argument("amount", help="how much, e.g. 10")
    fund.add_argument(
        "--url", default=None, help="the engine's base URL (default: PUBLIC_BASE_URL, else "
        "http://HOST:PORT)",
    )  # fmt: skip
    fund.add_argument("--api-key", default=None, help=OPTION_HELP + " (an admin key)")
    fund.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    url = (args.url or settings.resolved_public_base_url).rstrip("/")
    body = {"token": args.token, "amount": args.amount}
    return fund(url, auth_headers(args.api_key), args.account, body)


def fund(base_url: str, headers: dict[str, str], account: str, body: dict[str, str]) -> int:
    """POST the funding; print the account's balances after it, or the engine's error."""
    url = f"{base_url}/api/admin/accounts/{quote(account, safe='')}/fund"
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        print(f"order-engine: cannot reach {base_url}: {type(exc).__name__}", file=sys.stderr)
        return 1
    if response.status_code == 200:
        print(_describe(response.json()))
        return 0
    try:
        error = response.json()["error"]
        message = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    print(f"order-engine: funding refused ({response.status_code}) {message}", file=sys.stderr)
    return 1


def _describe(account: dict[str, Any]) -> str:
    held = [
        f"{b['amount']} {b['token']}" for b in account.get("balances", []) if b["amount"] != "0"
    ]
    return (
        f"funded {account.get('name')}: wallet {account.get('wallet')} holds "
        f"{', '.join(held) or 'nothing'}"
    )
