"""Words for chain transactions: what a swap transaction does, and why one failed."""

from __future__ import annotations

from decimal import Decimal

from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token

INSUFFICIENT_FUNDS = "insufficient_funds"
SLIPPAGE = "slippage exceeded"
# SPL Token's InsufficientFunds and the System program's ResultWithNegativeLamports are
# both custom error 1; the swap programs' own errors start at 6000.
_FUNDS_ERRORS = ("InsufficientFundsForFee", "InsufficientFundsForRent", "AccountNotFound")


def describe_failure(err: str, custom: int | None, slippage_error: int | None = None) -> str:
    """`insufficient_funds`, `slippage exceeded`, or the chain's own words."""
    if custom is not None and custom == slippage_error:
        return SLIPPAGE
    if custom == 1 or any(name in err for name in _FUNDS_ERRORS):
        return INSUFFICIENT_FUNDS
    return err


def swap_steps(
    quote: Quote,
    token_in: Token,
    token_out: Token,
    venue: str,
    min_amount_out: Decimal,
    cu_limit: int,
    creates_output: bool = True,
) -> tuple[str, ...]:
    """The instructions of a swap transaction, in order, in words."""
    pay = "wSOL" if token_in.native else token_in.symbol
    get = "wSOL" if token_out.native else token_out.symbol
    steps = [f"compute budget: limit {cu_limit} CU, priority fee"]
    if token_in.native:
        steps += [
            "create wSOL account (idempotent)",
            f"wrap {quote.amount_in} SOL -> wSOL",
        ]
    if creates_output:
        steps.append(f"create {get} account (idempotent)")
    steps.append(
        f"swap {quote.amount_in} {pay} -> {get} on {venue} (min out {min_amount_out} {get})"
    )
    if token_out.native:
        steps.append("unwrap wSOL -> SOL (close wSOL account)")
    elif token_in.native:
        steps.append("close wSOL account")
    return tuple(steps)
