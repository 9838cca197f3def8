"""The caller's account (`GET /api/account`: its wallet and balances on the chain), and
funding an account's wallet on the local chain (`POST /api/admin/accounts/{name}/fund`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from order_engine.api.auth import Administrator, Reader
from order_engine.api.context import ApiContext, context_dependency
from order_engine.api.errors import HttpError
from order_engine.api.jsonbody import check_json_request, parse_json_object, read_body
from order_engine.api.jsonresp import JsonResponse
from order_engine.api.models import DOCUMENTED, AccountView, errors
from order_engine.api.schemas import Amount
from order_engine.api.validation import first_error
from order_engine.domain.amounts import money
from order_engine.engine.wallets import AccountWallet, AccountWallets

router = APIRouter(tags=["accounts"])
Ctx = Annotated[ApiContext, Depends(context_dependency)]


class FundBody(BaseModel):
    """`POST /api/admin/accounts/{name}/fund`: what to give the account's wallet."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=16, examples=["SOL"])
    amount: Amount = Field(examples=["10"], description="SOL is airdropped; a token minted")


@router.get(
    "/api/account",
    response_model=AccountView,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 404, 503),
    summary="The caller's account: its wallet and the wallet's balances on the chain",
)
async def account(ctx: Ctx, caller: Reader) -> Response:
    if caller is None:
        raise HttpError(404, "account_not_found", "this engine serves without accounts")
    return JsonResponse(account_dict(await _wallets(ctx).view(caller.account_id)))


@router.post(
    "/api/admin/accounts/{name}/fund",
    response_model=AccountView,
    response_class=DOCUMENTED,
    responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FundBody.model_json_schema()}},
        }
    },
    summary="Fund an account's wallet on the local chain (SOL by airdrop, tokens minted)",
)
async def fund(name: str, request: Request, ctx: Ctx, _caller: Administrator) -> Response:
    """409 when this chain cannot be funded (simulated venues, a cluster's pools)."""
    check_json_request(request)
    body = parse_fund_body(await read_body(request, ctx.max_body_bytes))
    funded = await _wallets(ctx).fund(name, body.token, body.amount)
    return JsonResponse(account_dict(funded))


def _wallets(ctx: ApiContext) -> AccountWallets:
    if ctx.wallets is None:
        raise HttpError(503, "unavailable", "this process has no accounts' wallets")
    return ctx.wallets


def parse_fund_body(raw: bytes) -> FundBody:
    data = parse_json_object(raw)
    try:
        return FundBody.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from exc


def account_dict(seen: AccountWallet) -> dict[str, Any]:
    account = seen.account
    return {
        "id": account.id,
        "name": account.name,
        "admin": account.admin,
        "wallet": seen.wallet,
        "balances": [
            {"token": b.token.symbol, "mint": b.token.mint, "amount": money(b.amount.normalize())}
            for b in seen.balances
        ],
    }
