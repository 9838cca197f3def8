"""`/openapi.json` as the API behaves: FastAPI's schema with each path and query parameter
as the handlers parse it, the order request as one schema per order type, and no 422 in
FastAPI's validation shape (the API never sends it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from order_engine.api.models import Status

# What the handlers accept in paths and queries (they parse text themselves, to answer in
# our words): the schema FastAPI cannot infer from a `str` parameter.
_UUID = {"type": "string", "format": "uuid"}
_SYMBOL = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]{1,9}$", "examples": ["SOL"]}
_AMOUNT = {"type": "string", "pattern": r"^[0-9]{1,16}(\.[0-9]{1,30})?$", "examples": ["1.5"]}
PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "/api/orders/{order_id}": {"order_id": _UUID},
    "/api/orders/{order_id}/events": {
        "order_id": _UUID,
        "after": {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                {"type": "string", "maxLength": 0},
            ],
            "description": "an event seq: only the events after it (empty: 0)",
        },
        "token": {
            "type": "string",
            "description": "the wsUrl's stream token (ignored when a key is sent)",
        },
    },
    "/api/orders/{order_id}/cancel": {"order_id": _UUID},
    "/api/orders": {
        "status": {"type": "string", "enum": list(get_args(Status))},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        "cursor": {"type": "string", "minLength": 1, "description": "a page's nextCursor"},
        "userId": {"type": "string", "minLength": 1, "maxLength": 64, "description": "a label"},
        "accountId": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "admins: one account's orders (others see only their own)",
        },
    },
    "/api/quote": {
        "tokenIn": _SYMBOL,
        "tokenOut": _SYMBOL,
        "amountIn": _AMOUNT,
        "slippageBps": {"type": "integer", "minimum": 0, "maximum": 5000},
    },
    "/api/chain/tx/{signature}": {
        "signature": {"type": "string", "pattern": "^[1-9A-HJ-NP-Za-km-z]{86,88}$"}
    },
}


def truthful(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's schema, corrected: each path and query parameter as the handler parses
    it, and no 422 in FastAPI's validation shape (the API never sends it; its 422s are
    documented per endpoint in the one error shape)."""
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                documented = PARAMETERS.get(path, {}).get(parameter["name"])
                if documented is not None:
                    parameter["schema"] = documented
            responses = operation.get("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    submit = schema.get("paths", {}).get("/api/orders/execute", {}).get("post")
    if submit is not None:
        body = order_body_schema()
        components.update(body.pop("$defs"))
        submit["requestBody"]["content"]["application/json"]["schema"] = body
    _name_the_event(schema)
    _document_keys(schema)
    return schema


OPEN_PATHS = ("/health", "/ready", "/metrics")
KEYS = (
    "An API key (`order-engine keys create ACCOUNT`), as `Authorization: Bearer oe_...`. "
    "Scopes: read (see), trade (submit, cancel), admin (launches; every account's orders). "
    "An order's stream also opens with the token in its `wsUrl` (`token=`)."
)


def _document_keys(schema: dict[str, Any]) -> None:
    """Every call needs a key, but health, readiness and metrics."""
    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["apiKey"] = {"type": "http", "scheme": "bearer", "description": KEYS}
    schema["security"] = [{"apiKey": []}]
    paths = schema.get("paths", {})
    for path in OPEN_PATHS:
        for operation in paths.get(path, {}).values():
            operation["security"] = []
    for socket_path in ("/api/orders/execute", "/api/events/stream"):
        upgrade = paths.get(socket_path, {}).get("get")
        if upgrade is not None:  # a plain GET only says "use a WebSocket" (426)
            upgrade["security"] = []


EVENT_REF = {"$ref": "#/components/schemas/OrderEvent"}
# OpenAPI 3.1 has no schema for a stream's messages (3.2's `itemSchema`): an extension
STREAM_ITEM = "x-item-schema"


def _name_the_event(schema: dict[str, Any]) -> None:
    """The events, one schema per status told apart by `status`, as one component,
    `OrderEvent`: the items of the events endpoint's JSON, each Server-Sent Event's `data`
    and each WebSocket message."""
    components = schema["components"]["schemas"]
    events = components.get("OrderEvents", {}).get("properties", {}).get("events")
    if events is None:
        return
    components["OrderEvent"] = {
        "description": "One lifecycle event: the fields every event carries and those of "
        "its status (one schema per status, chosen by `status`).",
        **events["items"],
    }
    events["items"] = EVENT_REF
    paths = schema.get("paths", {})
    listing = paths.get("/api/orders/{order_id}/events", {}).get("get", {})
    sse = listing.get("responses", {}).get("200", {}).get("content", {})
    if "text/event-stream" in sse:
        sse["text/event-stream"][STREAM_ITEM] = EVENT_REF
    socket = paths.get("/api/orders/execute", {}).get("get")
    if socket is not None:
        socket[STREAM_ITEM] = EVENT_REF


# The order request, one schema per order type (the parser, `ExecuteOrderBody`, takes the
# union and checks each type's fields: `engine.requests`). `amount` is an alias of
# `amountIn`, `orderType` of `type`.
Amount = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}(\.[0-9]{1,30})?$")] | float
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=16)]
Expiry = Annotated[str, StringConstraints(max_length=40)]  # ISO 8601 with a zone


class _OrderBody(BaseModel):
    """What every order takes. One of `amountIn` and its alias `amount` is required; a
    field of another order type may only be null."""

    model_config = ConfigDict(extra="forbid")

    tokenIn: Symbol = Field(examples=["SOL"])
    tokenOut: Symbol = Field(examples=["USDC"])
    amountIn: Amount | None = Field(default=None, examples=["1.5"], description="tokenIn to sell")
    amount: Amount | None = Field(default=None, description="alias of amountIn")
    slippageBps: int = Field(default=50, ge=0, le=5000)
    clientOrderId: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    userId: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    maxPriceImpactBps: int | None = Field(default=None, ge=1, le=10_000)


class MarketOrderBody(_OrderBody):
    """Execute now at the best route (`type` may be left out)."""

    type: Literal["market"] | None = None
    orderType: Literal["market"] | None = Field(default=None, description="alias of type")
    limitPrice: None = None
    timeInForceSeconds: None = None
    expiresAt: None = None
    venue: None = None
    maxPrice: None = None


class LimitOrderBody(_OrderBody):
    """Wait until the route pays at least `limitPrice` (tokenOut per tokenIn, after fees)."""

    type: Literal["limit"] | None = Field(default=None, description="limit (or orderType)")
    orderType: Literal["limit"] | None = Field(default=None, description="alias of type")
    limitPrice: Amount
    timeInForceSeconds: int | None = Field(default=None, ge=1)
    expiresAt: Expiry | None = None
    venue: None = None
    maxPrice: None = None


class SniperOrderBody(_OrderBody):
    """Buy tokenOut as soon as a pool for it opens (on `venue`, or any)."""

    type: Literal["sniper"] | None = Field(default=None, description="sniper (or orderType)")
    orderType: Literal["sniper"] | None = Field(default=None, description="alias of type")
    venue: Symbol | None = None
    maxPrice: Amount | None = None
    timeInForceSeconds: int | None = Field(default=None, ge=1)
    expiresAt: Expiry | None = None
    limitPrice: None = None


def order_body_schema() -> dict[str, Any]:
    """The request body's schema: one of the three order types."""
    union = TypeAdapter(MarketOrderBody | LimitOrderBody | SniperOrderBody)
    schema: dict[str, Any] = union.json_schema(ref_template="#/components/schemas/{model}")
    return schema
