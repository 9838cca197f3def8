"""The price-impact guard (pure): an order never executes a route that moves the price more
than its maximum — the engine's (`MAX_PRICE_IMPACT_BPS`), or the order's own
`maxPriceImpactBps`, which may raise it up to the cap (`MAX_PRICE_IMPACT_CAP_BPS`)."""

from __future__ import annotations

from decimal import Decimal

from order_engine.domain.errors import PriceImpactTooHighError, RequestError
from order_engine.domain.quotes import BPS, RoutingDecision, quantize

DEFAULT_MAX_PRICE_IMPACT_BPS = 1_000  # 10%
DEFAULT_MAX_PRICE_IMPACT_CAP_BPS = 5_000  # 50%: the most an order may allow itself


def check_max_impact_field(value: int | None, cap_bps: int) -> int | None:
    """An order's `maxPriceImpactBps`: None (the engine's), or 1 to the cap."""
    if value is not None and not 1 <= value <= cap_bps:
        raise RequestError(
            f"maxPriceImpactBps must be a whole number of basis points from 1 to {cap_bps}",
            field="maxPriceImpactBps",
        )
    return value


def check_price_impact(
    decision: RoutingDecision, max_bps: int, *, amount: Decimal, token: str
) -> None:
    """`PriceImpactTooHighError` (nothing is sent) if the route moves the price too far."""
    impact = decision.price_impact
    if impact * BPS <= max_bps:
        return
    raise PriceImpactTooHighError(
        f"selling {amount} {token} would move the price {_percent(impact)} (route "
        f"{decision.dex}), more than the maximum {_percent(Decimal(max_bps) / BPS)} "
        f"(maxPriceImpactBps {max_bps}); nothing was sent: send a smaller order, or set a "
        "higher maxPriceImpactBps"
    )


def _percent(fraction: Decimal) -> str:
    return f"{quantize(fraction * 100, 2):f}%"
