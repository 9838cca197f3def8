"""Conversions between domain objects and table rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from order_engine.domain.legs import Leg
from order_engine.domain.orders import Order, OrderError, OrderEvent, OrderStatus, OrderType


def order_to_row(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "type": order.type.value,
        "token_in": order.token_in,
        "token_out": order.token_out,
        "amount_in": order.amount_in,
        "slippage_bps": order.slippage_bps,
        "client_order_id": order.client_order_id,
        "user_id": order.user_id,
        "account_id": order.account_id,
        "idempotency_key": order.idempotency_key,
        "request_fingerprint": order.request_fingerprint,
        "created_ms": order.created_ms,
        "limit_price": order.limit_price,
        "expires_ms": order.expires_ms,
        "venue": order.venue,
        "max_price": order.max_price,
        "max_price_impact_bps": order.max_price_impact_bps,
        "wallet": order.wallet,
        **mutable_values(order),
    }


def mutable_values(order: Order) -> dict[str, Any]:
    return {
        "status": order.status.value,
        "seq": order.seq,
        "attempt": order.attempt,
        "updated_ms": order.updated_ms,
        "dex": order.dex,
        "tx_hash": order.tx_hash,
        "executed_price": order.executed_price,
        "amount_out": order.amount_out,
        "min_amount_out": order.min_amount_out,
        "error": None if order.error is None else order.error.as_dict(),
        "attempt_errors": [e.as_dict() for e in order.attempt_errors],
        "legs": [leg.as_record() for leg in order.legs] if order.legs else None,
        "best_price": order.best_price,
        "checked_ms": order.checked_ms,
    }


def row_to_order(row: Mapping[str, Any]) -> Order:
    error = row["error"]
    return Order(
        id=row["id"],
        token_in=row["token_in"],
        token_out=row["token_out"],
        amount_in=row["amount_in"],
        slippage_bps=row["slippage_bps"],
        created_ms=row["created_ms"],
        type=OrderType(row["type"]),
        client_order_id=row["client_order_id"],
        user_id=row["user_id"],
        account_id=row["account_id"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
        status=OrderStatus(row["status"]),
        seq=row["seq"],
        attempt=row["attempt"],
        updated_ms=row["updated_ms"],
        dex=row["dex"],
        tx_hash=row["tx_hash"],
        executed_price=row["executed_price"],
        amount_out=row["amount_out"],
        min_amount_out=row["min_amount_out"],
        error=None if error is None else OrderError.from_dict(error),
        attempt_errors=[OrderError.from_dict(e) for e in row["attempt_errors"]],
        legs=[Leg.from_dict(leg) for leg in row["legs"] or ()],
        limit_price=row["limit_price"],
        expires_ms=row["expires_ms"],
        best_price=row["best_price"],
        checked_ms=row["checked_ms"],
        venue=row["venue"],
        max_price=row["max_price"],
        max_price_impact_bps=row["max_price_impact_bps"],
        wallet=row.get("wallet"),
    )


def event_to_row(event: OrderEvent) -> dict[str, Any]:
    return {
        "order_id": event.order_id,
        "seq": event.seq,
        "status": event.status.value,
        "ts_ms": event.ts_ms,
        "attempt": event.attempt,
        "data": event.data,
    }


def row_to_event(row: Mapping[str, Any]) -> OrderEvent:
    return OrderEvent(
        order_id=row["order_id"],
        seq=row["seq"],
        status=OrderStatus(row["status"]),
        ts_ms=row["ts_ms"],
        attempt=row["attempt"],
        data=row["data"],
    )
