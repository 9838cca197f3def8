"""An order as submitted: its fields, the rules of each order type, its fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from order_engine.domain.errors import RequestError
from order_engine.domain.launches import check_symbol
from order_engine.domain.limits import check_limit_price
from order_engine.domain.orders import OrderType
from order_engine.domain.tokens import Token, TokenRegistry, check_amount, check_pair

ANY_VENUE = "any"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    token_in: str
    token_out: str
    amount_in: Decimal
    slippage_bps: int = 50
    type: OrderType = OrderType.MARKET
    client_order_id: str | None = None
    user_id: str | None = None
    limit_price: Decimal | None = None  # limit orders
    time_in_force_s: int | None = None  # limit and sniper orders: expire this long after
    expires_at_ms: int | None = None  # or at this time
    venue: str | None = None  # sniper orders: the venue whose pool to wait for ("any")
    max_price: Decimal | None = None  # sniper orders: most tokenIn paid per tokenOut
    max_price_impact_bps: int | None = None  # the order's own guard (None: the engine's)
    amount_field: str = "amountIn"  # the name the client gave the amount (or its alias)

    def tokens(self, registry: TokenRegistry) -> tuple[str, str]:
        """Validated (tokenIn, tokenOut) symbols. A sniper's tokenOut may not trade yet: it
        needs only a well-formed symbol (and, if `registry` knows it, to differ from
        tokenIn)."""
        t_in = registry.find(self.token_in, field="tokenIn")
        check_amount(self.amount_in, t_in, field=self.amount_field)
        if self.type is OrderType.SNIPER:
            symbol = check_symbol(self.token_out, field="tokenOut")
            known = registry.get(symbol)
            if known is not None:
                check_pair(t_in, known)
            return t_in.symbol, symbol
        t_out = registry.find(self.token_out, field="tokenOut")
        check_pair(t_in, t_out)
        return t_in.symbol, t_out.symbol

    def check_type_fields(self, venues: Collection[str]) -> None:
        """Each order type takes its own fields, and only those."""
        allowed = _FIELD_TYPES.get(self.type.value, set())
        given = {
            "limitPrice": self.limit_price,
            "timeInForceSeconds": self.time_in_force_s,
            "expiresAt": self.expires_at_ms,
            "venue": self.venue,
            "maxPrice": self.max_price,
        }
        for name, value in given.items():
            if value is not None and name not in allowed:
                kinds = " and ".join(t for t, f in _FIELD_TYPES.items() if name in f)
                raise RequestError(f"{name} applies only to {kinds} orders", field=name)
        if self.type is OrderType.LIMIT:
            if self.limit_price is None:
                raise RequestError("limitPrice is required for a limit order", field="limitPrice")
            check_limit_price(self.limit_price)
        if self.max_price is not None:
            check_limit_price(self.max_price, field="maxPrice")
        if self.venue is not None and self.venue not in {*venues, ANY_VENUE}:
            names = ", ".join(sorted(venues))
            raise RequestError(f"venue must be one of {names} or {ANY_VENUE}", field="venue")

    @property
    def waits_for_venue(self) -> str | None:
        """The venue a sniper order waits for; None for any."""
        return None if self.venue in (None, ANY_VENUE) else self.venue

    def fingerprint(self) -> str:
        canonical = json.dumps(
            {
                "type": self.type.value,
                "tokenIn": self.token_in.upper(),
                "tokenOut": self.token_out.upper(),
                "amountIn": str(self.amount_in.normalize()),
                "slippageBps": self.slippage_bps,
                "clientOrderId": self.client_order_id,
                "limitPrice": None if self.limit_price is None else str(self.limit_price),
                "timeInForceSeconds": self.time_in_force_s,
                "expiresAt": self.expires_at_ms,
                "venue": self.venue,
                "maxPrice": None if self.max_price is None else str(self.max_price),
                # only when given: fingerprints of orders without them stay as they were
                **(
                    {}
                    if self.max_price_impact_bps is None
                    else {"maxPriceImpactBps": self.max_price_impact_bps}
                ),
                **({} if self.user_id is None else {"userId": self.user_id}),
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


_FIELD_TYPES = {
    "limit": {"limitPrice", "timeInForceSeconds", "expiresAt"},
    "sniper": {"venue", "maxPrice", "timeInForceSeconds", "expiresAt"},
}


def validate_pair(
    registry: TokenRegistry, token_in: str, token_out: str, amount_in: Decimal
) -> tuple[Token, Token]:
    t_in = registry.find(token_in, field="tokenIn")
    t_out = registry.find(token_out, field="tokenOut")
    check_pair(t_in, t_out)
    check_amount(amount_in, t_in, field="amountIn")
    return t_in, t_out
