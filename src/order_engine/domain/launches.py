"""Token launches: a new token and the first pool that makes it tradable.

A sniper order waits for one (`tokenOut` may not exist yet). A launch names the new token,
its decimals and mint, the venue whose pool opens, the token it is paired with and the
opening price (in that quote token per new token), and the pool's depth in USD a side.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from order_engine.domain.errors import RequestError

SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
DEFAULT_DEPTH_USD = Decimal(200_000)
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
        raw = asdict(self)
        raw["price"], raw["depth_usd"] = str(self.price), str(self.depth_usd)
        return {
            "symbol": raw["symbol"],
            "mint": raw["mint"],
            "decimals": raw["decimals"],
            "venue": raw["venue"],
            "quote": raw["quote"],
            "price": raw["price"],
            "depthUsd": raw["depth_usd"],
            "tsMs": raw["ts_ms"],
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
