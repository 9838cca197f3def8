"""JSON-RPC error objects with Solana's codes and messages (what `solana-rpc` answers)."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
NODE_UNHEALTHY = -32005
UNSUPPORTED_TRANSACTION_VERSION = -32015
MIN_CONTEXT_SLOT_NOT_REACHED = -32016


class RpcError(Exception):
    """An error answer: `code`, `message` and optional `data`, as in a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def as_object(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def invalid_param(what: object) -> RpcError:
    """Solana's wording for one bad parameter: `Invalid param: …`."""
    return RpcError(INVALID_PARAMS, f"Invalid param: {what}")


def node_unhealthy() -> RpcError:
    return RpcError(NODE_UNHEALTHY, "Node is unhealthy", {"numSlotsBehind": None})


def signature_verification_failure() -> RpcError:
    return RpcError(SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure")


def unsupported_version(version: int) -> RpcError:
    return RpcError(
        UNSUPPORTED_TRANSACTION_VERSION,
        f"Transaction version ({version}) is not supported by the requesting client. Please "
        "try the request again with the following configuration parameter: "
        '"maxSupportedTransactionVersion": 0',
    )
