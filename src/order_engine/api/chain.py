"""The chain as it is: one transaction by its signature, and every pool with its price.

Both answer 404 when the engine runs the simulated venues (there is no chain then), and
503 when the chain does not answer. Money is decimal strings; lamports and compute units
are integers.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field
from solders.signature import Signature

from order_engine.api.auth import Reader
from order_engine.api.context import ApiContext, context_dependency
from order_engine.api.errors import HttpError
from order_engine.api.jsonresp import JsonResponse
from order_engine.api.models import DOCUMENTED, errors
from order_engine.domain.errors import ChainUnavailableError

router = APIRouter(prefix="/api/chain", tags=["chain"])
Ctx = Annotated[ApiContext, Depends(context_dependency)]
MAX_SIGNATURE_CHARS = 90  # base58 of 64 bytes is at most 88 characters
T = TypeVar("T")


class TokenBalanceChange(BaseModel):
    account: str
    mint: str
    owner: str = Field(description="the token account's owner")
    pre: str = Field(description="base units before the transaction")
    post: str = Field(description="base units after it")


class LamportChange(BaseModel):
    account: str
    pre: str
    post: str


class ChainTransaction(BaseModel):
    """`GET /api/chain/tx/{signature}`: a transaction the chain executed."""

    signature: str
    slot: int
    blockTime: int = Field(description="the chain clock (unix seconds) when it executed")
    status: Literal["landed", "failed"]
    commitment: Literal["processed", "confirmed", "finalized"] | None
    error: str | None = Field(description="why it failed (the fee was still paid)")
    customError: int | None = Field(description="the program's custom error code")
    fee: int = Field(description="lamports")
    computeUnits: int
    memo: str | None = Field(description="`order:<orderId>` on the engine's swaps")
    logs: list[str]
    tokenBalanceChanges: list[TokenBalanceChange]
    lamportChanges: list[LamportChange]


class PoolToken(BaseModel):
    symbol: str
    mint: str


class PoolReserves(BaseModel):
    base: str = Field(description="whole base tokens")
    quote: str = Field(description="whole quote tokens")


class ChainPool(BaseModel):
    venue: str
    programId: str
    address: str = Field(description="the pool (Raydium) or LbPair (Meteora) account")
    pair: str = Field(examples=["WSOL/USDC"])
    base: PoolToken
    quote: PoolToken
    reserves: PoolReserves = Field(description="net of the fees accrued to the protocol")
    price: str | None = Field(description="quote per base, whole tokens; null if empty")
    activeBinId: int | None = Field(default=None, description="Meteora DLMM only")
    binStep: int | None = Field(default=None, description="Meteora DLMM only, basis points")


class ChainPools(BaseModel):
    """`GET /api/chain/pools`: every pool on the chain, read at one moment."""

    slot: int = Field(description="the slot the read began at")
    pools: list[ChainPool]


@router.get(
    "/tx/{signature}",
    response_model=ChainTransaction,
    response_class=DOCUMENTED,
    responses=errors(400, 401, 403, 404, 503),
    summary="A transaction as the chain knows it: status, fee, logs, balance changes",
)
async def chain_transaction(signature: str, ctx: Ctx, _caller: Reader) -> Response:
    check_signature(signature)
    if ctx.chain_tx is None:
        raise _no_chain()
    found = await _from_chain(ctx.chain_tx(signature))
    if found is None:
        raise HttpError(404, "transaction_not_found", f"the chain has no transaction {signature}")
    return _render(ChainTransaction, found)


@router.get(
    "/pools",
    response_model=ChainPools,
    response_class=DOCUMENTED,
    responses=errors(401, 403, 404, 503),
    summary="Every pool on the chain: pair, reserves and price",
)
async def chain_pools(ctx: Ctx, _caller: Reader) -> Response:
    if ctx.chain_pools is None:
        raise _no_chain()
    return _render(ChainPools, await _from_chain(ctx.chain_pools()))


def check_signature(signature: str) -> None:
    """400 unless `signature` is the base58 text of 64 bytes."""
    try:
        if len(signature) > MAX_SIGNATURE_CHARS:
            raise ValueError("too long")
        Signature.from_string(signature)
    except ValueError as exc:
        raise HttpError(
            400,
            "invalid_signature",
            "signature must be a transaction signature: base58 of 64 bytes",
            "signature",
        ) from exc


def _no_chain() -> HttpError:
    return HttpError(
        404,
        "no_chain",
        "this engine runs the simulated venues (VENUES=sim): there is no chain to read",
    )


async def _from_chain(call: Awaitable[T]) -> T:
    try:
        return await call
    except ChainUnavailableError as exc:
        raise HttpError(503, "chain_unavailable", exc.message) from exc


def _render(model: type[BaseModel], data: dict[str, Any]) -> Response:
    """`data` checked against its documented model, then sent as it is."""
    checked = model.model_validate(data)
    return JsonResponse(checked.model_dump(mode="json", exclude_unset=True))
