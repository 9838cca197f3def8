"""Pure, immutable pool models the simulated venues quote and swap against."""

from order_engine.domain.pools.base import InsufficientLiquidityError, Pool, SwapResult
from order_engine.domain.pools.constant_product import ConstantProductPool
from order_engine.domain.pools.dlmm import Bin, DlmmPool

__all__ = [
    "Bin",
    "ConstantProductPool",
    "DlmmPool",
    "InsufficientLiquidityError",
    "Pool",
    "SwapResult",
]
