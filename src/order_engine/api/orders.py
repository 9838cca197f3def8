"""Order endpoints: submit, read, list, events, cancel, quote."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from order_engine.api.context import ApiContext, context_dependency, context_of
from order_engine.api.errors import HttpError, error_response
from order_engine.api.jsonresp import JsonResponse
from order_engine.api.schemas import (
    MAX_SLIPPAGE_BPS,
    ExecuteOrderBody,
    event_view,
    order_view,
    parse_execute_body,
)
from order_engine.api.stream import sse_response, wants_sse
from order_engine.domain.errors import EngineError, RequestError
from order_engine.domain.orders import OrderStatus
from order_engine.domain.quotes import minimum_out

router = APIRouter(prefix="/api", tags=["orders"])
Ctx = Annotated[ApiContext, Depends(context_dependency)]
MAX_KEY = 128
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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, "body_too_large", f"the request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "body_too_large", f"the request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_json(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise HttpError(
            415,
            "unsupported_media_type",
            "send the order as JSON with Content-Type: application/json",
            field="Content-Type",
        )


@router.post(
    "/orders/execute",
    status_code=201,
    openapi_extra=_EXECUTE_DOC,
    summary="Submit a market order; stream its lifecycle from wsUrl",
)
async def execute(request: Request) -> Response:
    # Served by `HotPaths` in front of the framework; this route documents it and serves
    # an app mounted without that wrapper.
    return await submit_response(context_of(request), request)


async def submit_response(ctx: ApiContext, request: Request) -> Response:
    """`POST /api/orders/execute`: 201 with the order's stream URL, or a JSON error."""
    try:
        _check_json(request)
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= MAX_KEY:
            raise RequestError(
                f"Idempotency-Key must be 1 to {MAX_KEY} characters", field="Idempotency-Key"
            )
        order_request = parse_execute_body(await _read_body(request, ctx.max_body_bytes))
        order, created = await ctx.service.submit(order_request, key)
    except (EngineError, HttpError) as exc:
        return error_response(exc)
    body = {"orderId": order.id, "wsUrl": ctx.ws_url(order.id), "status": order.status.value}
    if order.client_order_id is not None:
        body["clientOrderId"] = order.client_order_id
    headers = {"Location": f"/api/orders/{order.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JsonResponse(body, status_code=201 if created else 200, headers=headers)


@router.get("/orders/execute", summary="WebSocket: the order's lifecycle stream", status_code=426)
async def execute_stream_needs_upgrade() -> Response:
    raise HttpError(
        426,
        "upgrade_required",
        "connect with a WebSocket: GET /api/orders/execute?orderId=<id> with Upgrade: websocket",
    )


@router.get("/orders/{order_id}", summary="One order with its execution details")
async def get_order(order_id: str, ctx: Ctx) -> Response:
    order = await ctx.service.get(order_id)
    return JsonResponse(order_view(order, ctx.ws_url(order.id)))


@router.get("/orders", summary="Orders, newest first, with cursor pagination")
async def list_orders(
    ctx: Ctx,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    page = await ctx.service.list(status=status, limit=limit, cursor=cursor)
    return JsonResponse(
        {
            "items": [order_view(o, ctx.ws_url(o.id)) for o in page.items],
            "nextCursor": page.next_cursor,
        }
    )


@router.get(
    "/orders/{order_id}/events",
    summary="The order's events (JSON, or Server-Sent Events with Accept: text/event-stream)",
)
async def order_events(
    order_id: str, request: Request, ctx: Ctx, after: Annotated[int, Query(ge=0)] = 0
) -> Response:
    if wants_sse(request):
        return await sse_response(ctx, order_id, request, after)
    events = await ctx.service.events(order_id, after)
    return JsonResponse({"orderId": order_id, "events": [event_view(e) for e in events]})


@router.post("/orders/{order_id}/cancel", summary="Cancel an order not yet submitted")
async def cancel_order(order_id: str, ctx: Ctx) -> Response:
    order = await ctx.service.cancel(order_id)
    return JsonResponse(order_view(order, ctx.ws_url(order.id)))


@router.get("/quote", summary="Quote every venue and show the routing decision, without executing")
async def quote(
    ctx: Ctx,
    tokenIn: str,
    tokenOut: str,
    amountIn: Annotated[str, Query(max_length=64)],
    slippageBps: Annotated[str, Query(max_length=8)] = "50",
) -> Response:
    """The route an order of this size would take now: every venue's quote, the chosen
    legs (split across venues when that returns more), and each leg's minimum output."""
    try:
        amount = Decimal(amountIn)
    except InvalidOperation as exc:
        raise RequestError("amountIn must be a decimal number", field="amountIn") from exc
    if not slippageBps.isdigit() or int(slippageBps) > MAX_SLIPPAGE_BPS:
        raise RequestError(
            f"slippageBps must be a whole number of basis points from 0 to {MAX_SLIPPAGE_BPS}",
            field="slippageBps",
        )
    decision = await ctx.service.quote(tokenIn, tokenOut, amount)
    decimals = ctx.service.tokens.find(tokenOut, field="tokenOut").decimals
    body: dict[str, Any] = {
        "tokenIn": tokenIn.upper(),
        "tokenOut": tokenOut.upper(),
        "amountIn": str(amount),
        "slippageBps": int(slippageBps),
        **decision.as_dict(),
    }
    floors = [minimum_out(q.amount_out, int(slippageBps), decimals) for q in decision.route]
    for leg, floor in zip(body["route"], floors, strict=True):
        leg["minAmountOut"] = str(floor)
    body["minAmountOut"] = str(sum(floors))
    return JsonResponse(body)
