"""The opaque page cursor every `OrderStore` hands out: url-safe base64 of "created_ms:id"."""

from __future__ import annotations

import base64
import binascii

from order_engine.domain.errors import RequestError

_MAX_CURSOR_CHARS = 256
_MAX_MS = 2**63 - 1
_MAX_MS_DIGITS = len(str(_MAX_MS))


def encode_cursor(created_ms: int, order_id: str) -> str:
    raw = f"{created_ms}:{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The (created_ms, id) position a cursor points at; `RequestError` if malformed."""
    try:
        if not cursor or len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError(cursor)
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
        created, _, order_id = raw.partition(":")
        if not (created.isascii() and created.isdigit()) or not order_id:
            raise ValueError(raw)
        created_ms = int(created) if len(created) <= _MAX_MS_DIGITS else _MAX_MS + 1
        if created_ms > _MAX_MS:  # the store's 64-bit column could not compare it
            raise ValueError(raw)
        return created_ms, order_id
    except (ValueError, UnicodeError, binascii.Error):
        raise RequestError("cursor is malformed", field="cursor") from None


def check_limit(limit: int) -> None:
    if limit < 1:
        raise RequestError("limit must be at least 1", field="limit")
