"""Simulation admin: launch a token (open its first pool on a venue) and list launches."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from order_engine.api.auth import Administrator, Reader
from order_engine.api.context import ApiContext, context_dependency
from order_engine.api.errors import HttpError
from order_engine.api.jsonbody import check_json_request, parse_json_object, read_body
from order_engine.api.jsonresp import JsonResponse
from order_engine.api.models import DOCUMENTED, Launches, LaunchView, errors
from order_engine.api.schemas import Amount
from order_engine.api.validation import first_error
from order_engine.domain.launches import DEFAULT_DEPTH_USD, LaunchRequest

router = APIRouter(prefix="/api/admin", tags=["simulation admin"])
Ctx = Annotated[ApiContext, Depends(context_dependency)]


class LaunchBody(BaseModel):
    """`POST /api/admin/launch`: a new token and the venue whose pool opens for it."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=16, examples=["PEPE"])
    venue: str = Field(min_length=1, max_length=16, examples=["raydium"])
    price: Amount = Field(examples=["0.0005"], description="quote tokens per new token")
    quote: str = Field(default="SOL", min_length=1, max_length=16)
    decimals: StrictInt = 6
    depthUsd: Amount = Field(default=DEFAULT_DEPTH_USD, description="pool depth, USD a side")

    def to_request(self) -> LaunchRequest:
        return LaunchRequest(
            self.symbol,
            self.venue.lower(),
            self.price,
            self.quote,
            self.decimals,
            Decimal(self.depthUsd),
        )


@router.post(
    "/launch",
    status_code=201,
    response_model=LaunchView,
    response_class=DOCUMENTED,
    responses=errors(400, 401, 403, 409, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": LaunchBody.model_json_schema()}},
        }
    },
    summary="Launch a token: open its pool on a venue",
)
async def launch(request: Request, ctx: Ctx, _caller: Administrator) -> Response:
    check_json_request(request)
    body = parse_launch_body(await read_body(request, ctx.max_body_bytes))
    if ctx.launches is None:
        raise HttpError(503, "unavailable", "this process does not launch tokens")
    launched = await ctx.launches.launch(body.to_request())
    return JsonResponse(launched.as_dict(), status_code=201)


@router.get(
    "/launches",
    response_model=Launches,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 503),
    summary="Every token launched so far, oldest first",
)
async def launches(ctx: Ctx, _caller: Reader) -> Response:
    found = [] if ctx.launches is None else await ctx.launches.launches()
    return JsonResponse({"launches": [item.as_dict() for item in found]})


def parse_launch_body(raw: bytes) -> LaunchBody:
    data = parse_json_object(raw)
    try:
        return LaunchBody.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from exc
