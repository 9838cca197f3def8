"""Amounts as clients write them and as the engine writes them back (pure).

In: a plain decimal — ASCII digits, at most one `.` with digits on both sides — and nothing
else: no sign, exponent, spaces, `_` separators or non-ASCII digits, and a bounded number of
digits (so no input can make `Decimal` arithmetic slow or the store overflow).
Out: always positional notation, never an exponent (`Decimal("1E-7")` is "0.0000001").
"""

from __future__ import annotations

import re
from decimal import Decimal

MAX_WHOLE_DIGITS = 16  # above 10^12 (the largest amount) with room for a price
MAX_FRACTION_DIGITS = 30  # prices may have more places than any token
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
MAX_SAFE_INT_DIGITS = 18  # a JSON integer with more digits is kept as text, never int()


class NotPlainDecimalError(ValueError):
    """Why a text is not a plain decimal, in words that follow the field's name."""


def parse_plain_decimal(text: str) -> Decimal:
    """`text` as a `Decimal`, or `NotPlainDecimalError` saying what is wrong with it."""
    if not _PLAIN.fullmatch(text):
        raise NotPlainDecimalError(
            "must be a plain decimal number such as 1.5: ASCII digits and at most one '.', "
            "with no sign, exponent, spaces or separators"
        )
    whole, _, fraction = text.partition(".")
    if len(whole.lstrip("0")) > MAX_WHOLE_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
        raise NotPlainDecimalError(
            f"has too many digits (at most {MAX_WHOLE_DIGITS} before the point and "
            f"{MAX_FRACTION_DIGITS} after)"
        )
    return Decimal(text)


def parse_whole_number(text: str, *, low: int, high: int) -> int | None:
    """`text` as an int within [low, high] if it is ASCII digits only, else None."""
    if not _DIGITS.fullmatch(text) or len(text.lstrip("0")) > len(str(high)):
        return None
    value = int(text)
    return value if low <= value <= high else None


def money(amount: Decimal) -> str:
    """An amount in positional notation, its places kept ("1.50" stays "1.50")."""
    return format(amount, "f")
