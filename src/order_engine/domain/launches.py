"""Token launches: a new token and the first pool that makes it tradable.

A sniper order waits for one (`tokenOut` may not exist yet). A launch names the new token,
its decimals and mint, the venue whose pool opens, the token it is paired with and the
opening price (in that quote token per new token), and the pool's depth in USD a side.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from order_engine.domain.amounts import money
from order_engine.domain.errors import RequestError

SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
DEFAULT_DEPTH_USD = Decimal(200_000)
MIN_DEPTH_USD = Decimal(100)
MAX_DEPTH_USD = Decimal(1_000_000_000)


def check_symbol(symbol: str, *, field: str) -> str:
    """2–10 letters or digits, starting with a letter; upper-cased."""
    upper = symbol.upper() if isinstance(symbol, str) else ""
    if not SYMBOL.match(upper):
        raise RequestError(
            f"{field} must be 2 to 10 letters or digits, starting with a letter", field=field
        )
    return upper


@dataclass(frozen=True, slots=True)
class Launch:
    symbol: str
    mint: str
    decimals: int
    venue: str
    quote: str  # the token the new one is paired with (SOL, USDC, …)
    price: Decimal  # quote tokens per new token, at the opening
    depth_usd: Decimal
    ts_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "mint": self.mint,
            "decimals": self.decimals,
            "venue": self.venue,
            "quote": self.quote,
            "price": money(self.price),
            "depthUsd": money(self.depth_usd),
            "tsMs": self.ts_ms,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Launch:
        raw = json.loads(text)
        return cls(
            raw["symbol"],
            raw["mint"],
            int(raw["decimals"]),
            raw["venue"],
            raw["quote"],
            Decimal(raw["price"]),
            Decimal(raw["depthUsd"]),
            int(raw["tsMs"]),
        )


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    symbol: str
    venue: str
    price: Decimal  # quote tokens per new token
    quote: str = "SOL"
    decimals: int = 6
    depth_usd: Decimal = DEFAULT_DEPTH_USD


def parse_schedule(text: str) -> list[tuple[float, LaunchRequest]]:
    """`SIM_LAUNCHES`: comma-separated `SYMBOL:VENUE:PRICE[:QUOTE]@SECONDS` (seconds after
    start), e.g. `PEPE:raydium:0.001@30,MOON:meteora:0.5:USDC@60`."""
    schedule = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            spec, seconds = item.rsplit("@", 1)
            symbol, venue, price, *quote = spec.split(":")
            quote_symbol = quote[0] if quote else "SOL"
            request = LaunchRequest(symbol, venue.lower(), Decimal(price), quote_symbol)
            schedule.append((float(seconds), request))
        except (ValueError, InvalidOperation) as exc:
            raise ValueError(
                f"SIM_LAUNCHES item {item!r}: expected SYMBOL:VENUE:PRICE[:QUOTE]@SECONDS"
            ) from exc
    return schedule
