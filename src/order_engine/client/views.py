"""Orders, one order and a quote, for people: rich tables and key-value lists, plain text
without colour (see `output`)."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from order_engine.client.output import STATUS_STYLE, clock, percent, plain, price, table
from order_engine.client.progress import Progress, Terms, fill_text

ORDER_COLUMNS = ("ID", "TYPE", "STATUS", "PAIR", "IN", "OUT", "PRICE", "VENUE", "CREATED")


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def orders_table(page: dict[str, Any]) -> list[RenderableType]:
    """`GET /api/orders`'s page as a table, and how to ask for the next one."""
    items = page["items"]
    grid = table(*ORDER_COLUMNS)
    for order in items:
        grid.add_row(
            order["orderId"],
            order["type"],
            _status(order["status"]),
            f"{order['tokenIn']}/{order['tokenOut']}",
            plain(order["amountIn"]),
            plain(order["amountOut"]),
            price(order["executedPrice"]),
            order["dex"] or "-",
            clock(order["createdAt"]),
        )
    shown: list[RenderableType] = [grid] if items else [Text("no orders")]
    if page.get("nextCursor"):
        shown.append(Text(f"{len(items)} shown; more with --cursor {page['nextCursor']}"))
    return shown


def _pairs(rows: list[tuple[str, str | Text]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def _terms_rows(order: dict[str, Any], terms: Terms) -> list[tuple[str, str | Text]]:
    rows: list[tuple[str, str | Text]] = [
        ("status", _status(order["status"])),
        ("type", order["type"]),
        ("order", f"{plain(order['amountIn'])} {order['tokenIn']} -> {order['tokenOut']}"),
        ("slippage", f"{order['slippageBps']} bps"),
    ]
    if order.get("maxPriceImpactBps") is not None:
        rows.append(("max price impact", f"{order['maxPriceImpactBps']} bps"))
    if order.get("limitPrice") is not None:
        rows.append(("limit price", f"{plain(order['limitPrice'])} {terms.price_unit}"))
    if order["type"] == "sniper":
        cap = order.get("maxPrice")
        rows.append(("venue", order.get("venue") or "any"))
        rows.append(("max price", "-" if cap is None else f"{plain(cap)} {terms.price_unit}"))
    if order.get("bestPrice") is not None:
        seen = f" (checked {clock(order.get('checkedAt'))})" if order.get("checkedAt") else ""
        rows.append(("best price", f"{price(order['bestPrice'])} {terms.price_unit}{seen}"))
    if order.get("expiresAt"):
        rows.append(("expires", f"{clock(order['expiresAt'])} UTC"))
    for name in ("clientOrderId", "userId"):
        if order.get(name):
            rows.append((name, order[name]))
    if order.get("wallet"):  # who pays, as recorded when the order was stored
        rows.append(("paid by", _payer(order["wallet"])))
    rows.append(("created", f"{clock(order['createdAt'])} UTC"))
    return rows


def _payer(wallet: str) -> str:
    return "the engine's wallet" if wallet == "engine" else f"the account's wallet {wallet}"


def _outcome_rows(order: dict[str, Any], terms: Terms) -> list[tuple[str, str | Text]]:
    rows: list[tuple[str, str | Text]] = []
    if order.get("amountOut") is not None and order.get("executedPrice") is not None:
        rows.append(("fill", fill_text(order, terms).removeprefix("filled ")))
        rows.append(("min out", f"{plain(order['minAmountOut'])} {order['tokenOut']}"))
    elif order.get("dex"):
        rows.append(("venue", order["dex"]))
    if order.get("txHash"):
        rows.append(("tx", order["txHash"]))
    if order.get("error"):
        rows.append(("error", f"{order['error']['code']}: {order['error']['message']}"))
    return rows


def _legs(order: dict[str, Any]) -> Table:
    grid = table("VENUE", "IN", "OUT", "STATE", "SLOT", "FEE", "CU", "TX", title="transactions")
    for leg in order["legs"]:
        grid.add_row(
            leg["dex"],
            plain(leg["amountIn"]),
            plain(leg.get("amountOut")),
            leg["state"],
            plain(leg.get("slot")),
            plain(leg.get("fee")),
            plain(leg.get("computeUnits")),
            leg["txHash"],
        )
    return grid


def _attempts(order: dict[str, Any]) -> Table:
    grid = table("ATTEMPT", "ERROR", "MESSAGE", title="failed attempts")
    for attempt in order["attempts"]:
        grid.add_row(str(attempt["attempt"]), attempt["code"], attempt["message"])
    return grid


def order_view(order: dict[str, Any], events: list[dict[str, Any]]) -> list[RenderableType]:
    """The order (terms, outcome, transactions, failed attempts) and its timeline."""
    terms = Terms.of(order)
    shown: list[RenderableType] = [
        Text(f"order {order['orderId']}", style="bold"),
        _pairs(_terms_rows(order, terms) + _outcome_rows(order, terms)),
    ]
    if order.get("legs"):
        shown += [Text(""), _legs(order)]
    if order.get("attempts"):
        shown += [Text(""), _attempts(order)]
    if events:
        progress = Progress(terms)
        shown += [Text(""), Text("timeline", style="bold")]
        shown += [line for event in events for line in progress.step(event)]
    return shown


def cancelled_view(order: dict[str, Any]) -> list[RenderableType]:
    return [Text(f"order {order['orderId']} is {order['status']}")]


def quote_view(quote: dict[str, Any]) -> list[RenderableType]:
    """The routing decision (venue, output, minimum, impact, why) and every venue's quote."""
    token_in, token_out = quote["tokenIn"], quote["tokenOut"]
    route = quote["route"]
    rows: list[tuple[str, str | Text]] = [
        ("quote", f"{plain(quote['amountIn'])} {token_in} -> {token_out}"),
        ("best", f"{quote['dex']}: {plain(quote['amountOut'])} {token_out}"),
        ("min out", f"{plain(quote['minAmountOut'])} {token_out} "
                    f"(slippage {quote['slippageBps']} bps)"),
        ("price impact", percent(quote["priceImpact"])),
        ("why", quote["reason"]),
    ]  # fmt: skip
    if len(route) > 1:
        legs = "; ".join(
            f"{leg['venue']} {plain(leg['amountIn'])} {leg['tokenIn']} -> "
            f"{plain(leg['amountOut'])} {leg['tokenOut']}"
            for leg in route
        )
        rows.append(("route", legs))
    grid = table("VENUE", "OUT", "PRICE", "FEE", "IMPACT", title="venues")
    for venue in quote["quotes"]:
        grid.add_row(
            venue["venue"],
            f"{plain(venue['amountOut'])} {venue['tokenOut']}",
            price(venue["price"]),
            percent(venue["fee"]),
            percent(venue["priceImpact"]),
        )
    missing = [Text(f"{venue}: no quote ({why})") for venue, why in quote["unavailable"].items()]
    return [_pairs(rows), Text(""), grid, *missing]
