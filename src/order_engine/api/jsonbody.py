"""Request bodies: read within the size limit, JSON only (no other type or encoding), parsed
so that no input reaches the engine in a form it did not ask for.

- a key given twice is refused (never "last one wins");
- numbers keep their exact text (`JsonNumber`): a field's own rule decides what they may be,
  so a 10,000-digit number is "amountIn has too many digits", not a parser failure;
- NaN and Infinity, non-UTF-8 bytes and absurd nesting are refused with what is wrong."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from order_engine.api.errors import HttpError
from order_engine.domain.amounts import MAX_SAFE_INT_DIGITS


class JsonNumber:
    """A JSON number as written (a fraction, an exponent, or more digits than an int should
    hold); fields that take decimals read its text, every other field refuses it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JsonNumber({self.text[:20]!r})"


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _int(text: str) -> int | JsonNumber:
    return int(text) if len(text.lstrip("-")) <= MAX_SAFE_INT_DIGITS else JsonNumber(text)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; `HttpError` 400 saying what is wrong otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpError(400, "invalid_json", "the request body is not UTF-8 text") from exc
    try:
        data = json.loads(
            text,
            object_pairs_hook=_object,
            parse_float=JsonNumber,
            parse_int=_int,
            parse_constant=_constant,
        )
    except _DuplicateKeyError as exc:
        raise HttpError(
            400,
            "duplicate_key",
            f"{exc.key} appears more than once in the request body; send each field once",
            field=exc.key,
        ) from exc
    except json.JSONDecodeError as exc:
        raise HttpError(
            400,
            "invalid_json",
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}",
        ) from exc
    except ValueError as exc:
        raise HttpError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise HttpError(400, "invalid_json", "the request body is nested too deeply") from exc
    if not isinstance(data, dict):
        raise HttpError(400, "invalid_json", "the request body must be a JSON object")
    return data


def check_json_request(request: Request) -> None:
    """415 unless the body is declared as JSON and sent as it is (no Content-Encoding)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise HttpError(
            415,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
            field="Content-Type",
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise HttpError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding[:32]} is not accepted: send the JSON body uncompressed",
            field="Content-Encoding",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as it is over `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit():
        too_large = len(declared) > MAX_SAFE_INT_DIGITS or int(declared) > limit
        if too_large:
            raise HttpError(413, "body_too_large", f"the request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "body_too_large", f"the request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
