"""The documented event models (`api.event_models`) and the payloads that build the events
(`domain.event_payloads`) agree: every payload's event validates against its status's
model, and the models refuse an event that misses a field or adds one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from order_engine.api.app import create_app
from order_engine.api.event_models import EVENT, OrderEvent, WaitingEvent
from order_engine.domain.event_payloads import (
    Confirmed,
    EventPayload,
    Failed,
    SniperTerms,
    Waiting,
)
from order_engine.domain.orders import OrderError, OrderStatus
from order_engine.domain.orders import OrderEvent as DomainEvent
from tests.event_samples import LANDED, SAMPLES, SENT

ORDER_ID = "6ff741b4-3c1e-4a43-9d4e-1c0d1f6c3b2a"
EXTRA: list[EventPayload] = [
    Waiting(None, None, 0.5, SniperTerms("NEWT", None, None)),
    Waiting(Decimal("2000"), 5, 0.5, SniperTerms("NEWT", "raydium", Decimal("0.01")), "moved"),
    Confirmed("s", "raydium", Decimal("2"), Decimal("1"), Decimal("1"), Decimal("0.5"),
              Decimal("0.5"), (LANDED, SENT.failed("reverted", "slippage_exceeded")), True),
    Failed(OrderError("no_route", "x"), (OrderError("no_route", "x", 1, 5),),
           (SENT.failed("reverted", "slippage_exceeded"),)),
]  # fmt: skip
PAYLOADS = [*SAMPLES.values(), *EXTRA]


@asynccontextmanager
async def no_lifespan(app: object) -> AsyncIterator[None]:
    yield


def wire(payload: EventPayload) -> dict[str, Any]:
    """The event as the API sends it (`OrderEvent.as_dict`)."""
    return DomainEvent(
        ORDER_ID, 3, payload.status, 1_700_000_000_000, 1, payload.as_dict()
    ).as_dict()


def test_the_union_has_one_model_per_status() -> None:
    members = get_args(get_args(OrderEvent)[0])
    statuses = [get_args(m.model_fields["status"].annotation)[0] for m in members]
    assert sorted(statuses) == sorted(OrderStatus)


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_every_payload_validates_against_its_status_model(payload: EventPayload) -> None:
    event = EVENT.validate_python(wire(payload))
    assert event.status == payload.status
    assert type(event).__name__ == f"{type(payload).__name__}Event"
    assert event.model_dump(exclude_unset=True) == wire(payload)


@pytest.mark.parametrize("status", list(OrderStatus))
def test_an_event_missing_a_field_its_status_always_carries_fails(status: OrderStatus) -> None:
    sent = wire(SAMPLES[status])
    model = type(EVENT.validate_python(sent))
    required = [name for name, f in model.model_fields.items() if f.is_required()]
    assert {"orderId", "seq", "status", "tsMs", "attempt"} <= set(required)
    for name in required:
        with pytest.raises(ValidationError):
            EVENT.validate_python({k: v for k, v in sent.items() if k != name})


@pytest.mark.parametrize("status", list(OrderStatus))
def test_an_event_with_an_undocumented_field_fails(status: OrderStatus) -> None:
    with pytest.raises(ValidationError, match="extra"):
        EVENT.validate_python({**wire(SAMPLES[status]), "surprise": 1})


def test_an_event_with_the_fields_of_another_status_fails() -> None:
    confirmed = wire(SAMPLES[OrderStatus.CONFIRMED])
    with pytest.raises(ValidationError):
        EVENT.validate_python({**confirmed, "status": "submitted"})
    with pytest.raises(ValidationError):
        EVENT.validate_python({**confirmed, "status": "running"})


def test_money_as_a_number_fails() -> None:
    confirmed = wire(SAMPLES[OrderStatus.CONFIRMED])
    with pytest.raises(ValidationError):
        EVENT.validate_python({**confirmed, "amountOut": 223.875})


@pytest.mark.parametrize(
    "terms",
    [{}, {"limitPrice": "1", "token": "NEWT", "venue": "any", "maxPrice": None},
     {"token": "NEWT", "venue": "any"}],
    ids=["none", "both", "part"],
)  # fmt: skip
def test_a_waiting_event_has_the_terms_of_one_order_type(terms: dict[str, Any]) -> None:
    base = {"orderId": ORDER_ID, "seq": 2, "status": "waiting", "tsMs": 1, "attempt": 0,
            "bestPrice": None, "expiresAtMs": None, "checkEveryS": 2.0}  # fmt: skip
    with pytest.raises(ValidationError, match="limitPrice, or token, venue and maxPrice"):
        WaitingEvent.model_validate({**base, **terms})


def test_a_leg_of_a_submitted_event_needs_its_steps() -> None:
    submitted = wire(SAMPLES[OrderStatus.SUBMITTED])
    leg: dict[str, Any] = dict(submitted["legs"][0])
    del leg["steps"]
    with pytest.raises(ValidationError):
        EVENT.validate_python({**submitted, "legs": [leg]})


def test_the_openapi_names_one_event_schema_for_every_stream() -> None:
    schema = create_app(no_lifespan).fastapi.openapi()
    components = schema["components"]["schemas"]
    event = components["OrderEvent"]
    assert event["discriminator"]["propertyName"] == "status"
    assert sorted(event["discriminator"]["mapping"]) == sorted(OrderStatus)
    ref = {"$ref": "#/components/schemas/OrderEvent"}
    assert components["OrderEvents"]["properties"]["events"]["items"] == ref
    listing = schema["paths"]["/api/orders/{order_id}/events"]["get"]["responses"]["200"]
    assert listing["content"]["text/event-stream"]["x-item-schema"] == ref
    assert schema["paths"]["/api/orders/execute"]["get"]["x-item-schema"] == ref
    for status in OrderStatus:
        model = components[event["discriminator"]["mapping"][status].rsplit("/", 1)[1]]
        assert model["additionalProperties"] is False
    assert "EventView" not in components
