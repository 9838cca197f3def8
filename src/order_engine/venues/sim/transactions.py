"""The steps of a simulated swap transaction: wrapping native SOL around the swap."""

from __future__ import annotations

from decimal import Decimal

from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token


def swap_steps(
    quote: Quote, token_in: Token, token_out: Token, venue: str, min_amount_out: Decimal
) -> tuple[str, ...]:
    """What a swap transaction does: native SOL is wrapped to wSOL before the swap, or
    unwrapped after it, in a temporary wSOL account."""
    pay = "WSOL" if token_in.native else token_in.symbol
    get = "WSOL" if token_out.native else token_out.symbol
    steps: list[str] = []
    if token_in.native:
        steps += ["create wSOL account", f"wrap {quote.amount_in} SOL -> wSOL"]
    elif token_out.native:
        steps.append("create wSOL account")
    steps.append(
        f"swap {quote.amount_in} {pay} -> {get} on {venue} (min out {min_amount_out} {get})"
    )
    if token_out.native:
        steps += ["unwrap wSOL -> SOL", "close wSOL account"]
    elif token_in.native:
        steps.append("close wSOL account")
    return tuple(steps)
