"""Reading a request's `params` the way Solana's RPC does: positional arguments, then an
optional configuration object; a bad one is a -32602 with Solana's wording."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature

from order_engine.chain.port import Commitment
from order_engine.localnet.errors import (
    MIN_CONTEXT_SLOT_NOT_REACHED,
    RpcError,
    invalid_param,
    invalid_params,
)

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
COMMITMENTS = {c.value: c for c in Commitment}
U64_MAX = 2**64 - 1


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _ALPHABET[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    """Raises ValueError for a character outside base58's alphabet."""
    number = 0
    for char in text:
        if char not in _INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + _INDEX[char]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def b64decode(text: str) -> bytes:
    """Raises ValueError for text that is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


def positional(params: list[Any], count: int, method: str) -> list[Any]:
    """The first `count` params (all required)."""
    if len(params) < count:
        raise invalid_params(
            f"Invalid params: invalid length {len(params)}, expected {count} for {method}"
        )
    return params[:count]


def config(params: list[Any], index: int) -> dict[str, Any]:
    """The optional configuration object at `index` ({} when absent or null)."""
    if len(params) <= index or params[index] is None:
        return {}
    value = params[index]
    if not isinstance(value, dict):
        raise invalid_params(f"Invalid params: invalid type: {_kind(value)}, expected a map")
    return value


def _kind(value: Any) -> str:
    return {str: "string", list: "sequence", bool: "boolean"}.get(type(value), "value")


def pubkey(value: Any) -> Pubkey:
    if not isinstance(value, str):
        raise invalid_params(f"Invalid params: invalid type: {_kind(value)}, expected a string")
    try:
        return Pubkey.from_string(value)
    except ValueError as exc:
        raise invalid_param(exc) from exc


def signature(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid_params(f"Invalid params: invalid type: {_kind(value)}, expected a string")
    try:
        return str(Signature.from_string(value))
    except ValueError as exc:
        raise invalid_param(exc) from exc


def unsigned(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise invalid_params(f"Invalid params: {what} must be an unsigned 64-bit integer")
    return value


def flag(cfg: dict[str, Any], name: str) -> bool:
    value = cfg.get(name)
    value = False if value is None else value  # null is the default, as serde's Option
    if not isinstance(value, bool):
        raise invalid_params(f"Invalid params: {name} must be a boolean")
    return value


def commitment(cfg: dict[str, Any]) -> Commitment:
    """The requested commitment (default finalized, like Solana; null is the default)."""
    value = cfg.get("commitment") or Commitment.FINALIZED.value
    found = COMMITMENTS.get(value) if isinstance(value, str) else None
    if found is None:
        raise invalid_params(
            f"Invalid params: unknown variant `{value}`, expected one of `processed`, "
            "`confirmed`, `finalized`"
        )
    return found


def check_context(cfg: dict[str, Any], slot: int) -> None:
    """`minContextSlot`: refused while the node is behind it."""
    wanted = cfg.get("minContextSlot")
    if wanted is not None and unsigned(wanted, "minContextSlot") > slot:
        raise RpcError(
            MIN_CONTEXT_SLOT_NOT_REACHED,
            "Minimum context slot has not been reached",
            {"contextSlot": slot},
        )
