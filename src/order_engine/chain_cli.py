"""`order-engine chain pools|tx`: what a running engine's chain holds, for people.

`chain pools` prints every pool (venue, pair, price, reserves) as a table and `chain tx
SIGNATURE` one transaction (slot, status, fee, compute units, balance changes, logs), from
`GET /api/chain/pools` and `GET /api/chain/tx/{signature}`. Exit 0, or 1 with one line
on stderr when the engine cannot be reached or refuses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import quote

import httpx

from order_engine.client_key import add_connection_options, auth_headers, engine_url
from order_engine.domain.tokens import TokenRegistry

PRICE_DIGITS = 10  # significant digits of a price in the table
AMOUNT_DECIMALS = 6  # reserves in the table: at most this many decimal places
LAMPORTS_PER_SOL = 9


def add_commands(sub: Any) -> None:
    """`chain pools` and `chain tx` under `sub` (the CLI's subparsers)."""
    chain = sub.add_parser("chain", help="read the chain of a running engine: pools, transactions")
    inner = chain.add_subparsers(dest="chain_command", required=True)
    pools = inner.add_parser("pools", help="every pool: venue, pair, price, reserves")
    pools.set_defaults(run=lambda a: show_pools(a.url, a.api_key))
    tx = inner.add_parser(
        "tx", help="one transaction: slot, status, fee, compute units, balance changes, logs"
    )
    tx.add_argument("signature", help="the transaction's signature (an order's txHash)")
    tx.set_defaults(run=lambda a: show_transaction(a.signature, a.url, a.api_key))
    for parser in (pools, tx):
        add_connection_options(parser)


def show_pools(base_url: str | None, key: str | None = None) -> int:
    return _show(base_url, "/api/chain/pools", pools_text, key)


def show_transaction(signature: str, base_url: str | None, key: str | None = None) -> int:
    path = f"/api/chain/tx/{quote(signature, safe='')}"
    return _show(base_url, path, transaction_text, key)


class _Refused(Exception):
    """The engine could not be reached, or answered with an error (one line)."""


def _show(
    base_url: str | None, path: str, render: Callable[[dict[str, Any]], str], key: str | None
) -> int:
    try:
        base = engine_url(base_url)
        body = _get(base, path, auth_headers(key))
    except _Refused as exc:
        print(f"order-engine: {exc}", file=sys.stderr)
        return 1
    print(render(body))
    return 0


def _get(base: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The endpoint's JSON object; `_Refused` if there is none."""
    try:
        response = httpx.get(base + path, timeout=30, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise _Refused(f"cannot reach the engine at {base}: {why}") from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise _Refused(f"{base} did not answer JSON (HTTP {response.status_code})") from exc
    if response.status_code == 200 and isinstance(body, dict):
        return body
    try:
        error = body["error"]
        message = f"{error['code']}: {error['message']}"
    except (KeyError, TypeError):
        message = f"{base} answered"
    raise _Refused(f"{message} (HTTP {response.status_code})")


def pools_text(body: dict[str, Any]) -> str:
    """The pools as a table, with the slot they were read at."""
    rows = [["VENUE", "PAIR", "PRICE", "RESERVE BASE", "RESERVE QUOTE", "ACTIVE BIN"]]
    for pool in body["pools"]:
        base, quote_ = pool["base"]["symbol"], pool["quote"]["symbol"]
        price = "-" if pool["price"] is None else significant(Decimal(pool["price"]))
        reserves = pool["reserves"]
        bin_ = "" if pool.get("activeBinId") is None else f"{pool['activeBinId']}"
        if bin_:
            bin_ += f" (step {pool['binStep']} bp)"
        rows.append(
            [
                pool["venue"],
                pool["pair"],
                price,
                f"{amount(Decimal(reserves['base']))} {base}",
                f"{amount(Decimal(reserves['quote']))} {quote_}",
                bin_,
            ]
        )
    head = f"{len(body['pools'])} pools at slot {body['slot']} (price: quote per base)"
    return "\n".join([head, *table(rows, right=(2, 3, 4))])


def table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Rows as aligned columns (`right`: the columns aligned right)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def significant(value: Decimal, digits: int = PRICE_DIGITS) -> str:
    """`value` rounded to `digits` significant digits, without an exponent."""
    if value == 0:
        return "0"
    rounded = value.quantize(Decimal(1).scaleb(value.adjusted() - digits + 1))
    return format(rounded.normalize(), "f")


def amount(value: Decimal) -> str:
    """A token amount with thousands separators and at most 6 decimal places."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_DECIMALS:
        value = value.quantize(Decimal(1).scaleb(-AMOUNT_DECIMALS), rounding=ROUND_DOWN)
    return format(value.normalize(), ",f")


def transaction_text(tx: dict[str, Any]) -> str:
    """A transaction as readable text: its summary, balance changes and logs."""
    status = tx["status"]
    if tx.get("error"):
        custom = f", custom error {tx['customError']}" if tx.get("customError") else ""
        status += f" ({tx['error']}{custom})"
    when = datetime.fromtimestamp(tx["blockTime"], tz=UTC).isoformat(timespec="seconds")
    lines = [
        f"transaction {tx['signature']}",
        f"  slot           {tx['slot']} ({tx.get('commitment') or 'commitment unknown'})",
        f"  status         {status}",
        f"  fee            {tx['fee']:,} lamports",
        f"  compute units  {tx['computeUnits']:,}",
        f"  block time     {when}",
        f"  memo           {tx.get('memo') or '-'}",
        "",
        *_token_changes(tx["tokenBalanceChanges"]),
        *_lamport_changes(tx["lamportChanges"]),
        f"logs ({len(tx['logs'])})",
        *(f"  {line}" for line in tx["logs"]),
    ]
    return "\n".join(lines)


def _token_changes(changes: list[dict[str, Any]]) -> list[str]:
    if not changes:
        return ["token balance changes: none", ""]
    rows = [["OWNER", "TOKEN ACCOUNT", "CHANGE"]]
    for change in changes:
        delta = int(change["post"]) - int(change["pre"])
        rows.append([change["owner"], change["account"], _token_delta(delta, change["mint"])])
    return ["token balance changes", *(f"  {line}" for line in table(rows, right=(2,))), ""]


def _token_delta(units: int, mint: str) -> str:
    token = TokenRegistry().by_mint(mint)  # the built-in tokens (a client knows no launch)
    if token is None:
        return f"{units:+,} units of {mint}"
    return f"{_signed(Decimal(units).scaleb(-token.decimals))} {token.symbol}"


def _lamport_changes(changes: list[dict[str, Any]]) -> list[str]:
    if not changes:
        return ["lamport changes: none", ""]
    rows = [["ACCOUNT", "CHANGE"]]
    for change in changes:
        delta = Decimal(int(change["post"]) - int(change["pre"])).scaleb(-LAMPORTS_PER_SOL)
        rows.append([change["account"], f"{_signed(delta)} SOL"])
    return ["lamport changes", *(f"  {line}" for line in table(rows, right=(1,))), ""]


def _signed(value: Decimal) -> str:
    return ("+" if value > 0 else "") + format(value.normalize(), ",f")
