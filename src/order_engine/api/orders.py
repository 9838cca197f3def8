"""Order endpoints: submit, read, list, events, cancel, quote."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from order_engine.api.auth import Reader, Trader, stream_viewer
from order_engine.api.context import ApiContext, context_dependency, context_of
from order_engine.api.errors import HttpError, error_response
from order_engine.api.event_models import OrderEvents
from order_engine.api.jsonbody import check_json_request, read_body
from order_engine.api.jsonresp import JsonResponse
from order_engine.api.models import (
    DOCUMENTED,
    Accepted,
    OrderPage,
    OrderView,
    QuoteView,
    errors,
)
from order_engine.api.schemas import ExecuteOrderBody, event_view, order_view, parse_execute_body
from order_engine.api.stream import sse_response, wants_sse
from order_engine.api.validation import (
    MAX_PAGE,
    MAX_SLIPPAGE_BPS,
    parse_after,
    parse_amount,
    parse_status,
    whole_number,
)
from order_engine.domain.accounts import Scope
from order_engine.domain.amounts import money
from order_engine.domain.errors import EngineError, RequestError
from order_engine.domain.quotes import minimum_out
from order_engine.engine.service import parse_order_id

router = APIRouter(prefix="/api", tags=["orders"])
Ctx = Annotated[ApiContext, Depends(context_dependency)]
MAX_KEY = 128
MAX_LABEL = 64  # userId
EXECUTE_PATH = "/api/orders/execute"
_EXECUTE_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": MAX_KEY},
            "description": "same key + same body: the same order; same key + other body: 409",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ExecuteOrderBody.model_json_schema()}},
    },
}


@router.post(
    "/orders/execute",
    status_code=201,
    openapi_extra=_EXECUTE_DOC,
    response_model=Accepted,
    response_class=DOCUMENTED,
    responses={
        200: {"model": Accepted, "description": "a replay: the same Idempotency-Key and body"},
        **errors(400, 401, 403, 409, 413, 415, 422, 429, 500, 503),
    },
    summary="Submit an order (market, limit, sniper); stream its lifecycle from wsUrl",
)
async def execute(request: Request) -> Response:
    # Served by `HotPaths` in front of the framework; this route documents it and serves
    # an app mounted without that wrapper.
    return await submit_response(context_of(request), request)


async def submit_response(ctx: ApiContext, request: Request) -> Response:
    """`POST /api/orders/execute`: 201 with the order's stream URL, or a JSON error."""
    try:
        check_json_request(request)
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= MAX_KEY:
            raise RequestError(
                f"Idempotency-Key must be 1 to {MAX_KEY} characters", field="Idempotency-Key"
            )
        caller = None
        if ctx.access is not None:
            auth = request.headers.get("authorization")
            caller = await ctx.access.principal(auth, Scope.TRADE)
        order_request = parse_execute_body(await read_body(request, ctx.max_body_bytes))
        order, created = await ctx.service.submit(order_request, key, by=caller)
    except (EngineError, HttpError) as exc:
        return error_response(exc)
    ws_url = ctx.ws_url(order.id)
    body = {
        "orderId": order.id,
        "wsUrl": ws_url,
        "websocketUrl": ws_url,
        "status": order.status.value,
    }
    if order.client_order_id is not None:
        body["clientOrderId"] = order.client_order_id
    headers = {"Location": f"/api/orders/{order.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JsonResponse(body, status_code=201 if created else 200, headers=headers)


@router.get(
    "/orders/execute",
    summary="WebSocket: the order's lifecycle stream",
    status_code=426,
    response_class=DOCUMENTED,
    responses=errors(426),
    description="A WebSocket (see the README); a plain GET is answered 426. With `Upgrade: "
    "websocket` and `?orderId=…` (optionally `&after=SEQ`), each message is one `OrderEvent` "
    "as JSON (`x-item-schema`): every event so far, then live ones; the socket closes with "
    "1000 after the terminal event.",
)
async def execute_stream_needs_upgrade() -> Response:
    raise HttpError(
        426,
        "upgrade_required",
        "connect with a WebSocket: GET /api/orders/execute?orderId=<id> with Upgrade: websocket",
    )


@router.get(
    "/orders/{order_id}",
    response_model=OrderView,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 404, 422, 503),
    summary="One order with its execution details",
)
async def get_order(order_id: str, ctx: Ctx, caller: Reader) -> Response:
    order = await ctx.service.get(order_id, caller)
    return JsonResponse(order_view(order, ctx.ws_url(order.id)))


@router.get(
    "/orders",
    response_model=OrderPage,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 422, 503),
    summary="Orders, newest first, with cursor pagination",
)
async def list_orders(
    ctx: Ctx,
    caller: Reader,
    status: str | None = None,
    limit: str | None = None,
    cursor: str | None = None,
    userId: str | None = None,
    accountId: str | None = None,
) -> Response:
    """The caller's orders; an admin's: everyone's, or one account's (`accountId`)."""
    if userId is not None and not 1 <= len(userId) <= MAX_LABEL:
        raise RequestError(f"userId must be 1 to {MAX_LABEL} characters", field="userId")
    if accountId is not None and not 1 <= len(accountId) <= MAX_LABEL:
        raise RequestError(f"accountId must be 1 to {MAX_LABEL} characters", field="accountId")
    if caller is not None and not caller.admin:
        accountId = caller.account_id
    page = await ctx.service.list(
        status=parse_status(status),
        limit=whole_number(limit, "limit", low=1, high=MAX_PAGE, default=50),
        cursor=cursor,
        user_id=userId,
        account_id=accountId,
    )
    return JsonResponse(
        {
            "items": [order_view(o, ctx.ws_url(o.id)) for o in page.items],
            "nextCursor": page.next_cursor,
        }
    )


@router.get(
    "/orders/{order_id}/events",
    response_model=OrderEvents,
    response_class=DOCUMENTED,
    responses={
        200: {
            "description": "The events. As Server-Sent Events: `id` is the seq, `event` the "
            "status and `data` one `OrderEvent` as JSON (`x-item-schema`).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(401, 403, 404, 422, 503),
    },
    summary="The order's events (JSON, or Server-Sent Events with Accept: text/event-stream)",
)
async def order_events(
    order_id: str, request: Request, ctx: Ctx, after: str | None = None, token: str | None = None
) -> Response:
    """With an API key, or the order's stream token (`token`, from its `wsUrl`)."""
    seq = parse_after(after)
    if wants_sse(request):
        return await sse_response(ctx, order_id, request, seq)
    auth = request.headers.get("authorization")
    viewer, _ = await stream_viewer(ctx.access, auth, token, parse_order_id(order_id))
    events = await ctx.service.events(order_id, seq, viewer)
    return JsonResponse({"orderId": order_id, "events": [event_view(e) for e in events]})


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderView,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 404, 409, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "`{}`: a cancel is a JSON POST (a cross-site form cannot send one)",
            "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
        }
    },
    summary="Cancel an order not yet submitted",
)
async def cancel_order(order_id: str, request: Request, ctx: Ctx, caller: Trader) -> Response:
    """Needs a trade key and `Content-Type: application/json` (a cross-site form cannot
    send either), with an empty body or `{}`."""
    check_json_request(request)
    order = await ctx.service.cancel(order_id, caller)
    return JsonResponse(order_view(order, ctx.ws_url(order.id)))


@router.get(
    "/quote",
    response_model=QuoteView,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 422, 503),
    summary="Quote every venue and show the routing decision, without executing",
)
async def quote(
    ctx: Ctx,
    _caller: Reader,
    tokenIn: str,
    tokenOut: str,
    amountIn: str,
    slippageBps: str = "50",
) -> Response:
    """The route an order of this size would take now: every venue's quote, the chosen
    legs (split across venues when that returns more), each leg's minimum output, and the
    route's price impact."""
    amount = parse_amount(amountIn, "amountIn")
    bps = whole_number(slippageBps, "slippageBps", low=0, high=MAX_SLIPPAGE_BPS, default=50)
    decision = await ctx.service.quote(tokenIn, tokenOut, amount)
    tokens = ctx.service.tokens
    body: dict[str, Any] = {
        "tokenIn": tokenIn.upper(),
        "tokenOut": tokenOut.upper(),
        "amountIn": money(amount),
        "slippageBps": bps,
        **decision.as_dict(),
    }
    floors = [
        minimum_out(q.amount_out, bps, tokens.find(q.token_out, field="tokenOut").decimals)
        for q in decision.hops
    ]
    for leg, floor in zip(body["route"], floors, strict=True):
        leg["minAmountOut"] = money(floor)
    least = sum(floors, Decimal(0))  # a two-hop route: the whole route's minimum
    if decision.then is not None:
        least = minimum_out(
            decision.amount_out, bps, tokens.find(tokenOut, field="tokenOut").decimals
        )
    body["minAmountOut"] = money(least)
    return JsonResponse(body)
