"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from order_engine.domain.tokens import TOKENS
from order_engine.venues.sim.market import USD_PRICES


@pytest.fixture
def restore_token_registry() -> Iterator[None]:
    """Launches register tokens and prices in this process's registry (as every engine
    process does): put both back as they were after the test."""
    tokens, prices = dict(TOKENS), dict(USD_PRICES)
    yield
    TOKENS.clear()
    TOKENS.update(tokens)
    USD_PRICES.clear()
    USD_PRICES.update(prices)
