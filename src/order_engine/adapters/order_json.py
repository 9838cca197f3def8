"""An order as a JSON-safe dict and back (a BullMQ job carries the order it was queued
for): the table row's fields (`sql.codec`), with its decimal amounts as strings, so
no amount passes through a float."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from order_engine.adapters.sql.codec import order_to_row, row_to_order
from order_engine.adapters.sql.tables import Money, orders
from order_engine.domain.orders import Order

_DECIMALS = tuple(c.name for c in orders.c if isinstance(c.type, Money))  # the money columns


def order_to_json(order: Order) -> dict[str, Any]:
    row = order_to_row(order)
    for name in _DECIMALS:
        if row[name] is not None:
            row[name] = str(row[name])
    return row


def order_from_json(raw: Mapping[str, Any]) -> Order:
    """`ValueError` (or `KeyError`) when `raw` is not an order `order_to_json` wrote."""
    row = dict(raw)
    for name in _DECIMALS:
        if row[name] is not None:
            row[name] = Decimal(row[name])
    return row_to_order(row)
