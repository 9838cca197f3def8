"""The JSON-RPC 2.0 envelope: one request or a batch, each answered in order with its `id`;
a request without an `id` is a notification (run, not answered). Chain faults
(`ChainUnavailableError`) answer -32005 node unhealthy, a transient error to a client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from order_engine.domain.errors import ChainUnavailableError
from order_engine.localnet.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    invalid_params,
    node_unhealthy,
)
from order_engine.localnet.node import Localnet

log = logging.getLogger(__name__)
Handler = Callable[[Localnet, list[Any]], Awaitable[Any]]
Answer = dict[str, Any]


def result_of(response: Any) -> Any:
    """The `result` of a solders response object (built with `to_json`)."""
    return orjson.loads(response.to_json())["result"]


def _error(request_id: Any, error: RpcError) -> Answer:
    return {"jsonrpc": "2.0", "error": error.as_object(), "id": request_id}


class JsonRpc:
    """Answers request bodies with `methods` on `node`."""

    def __init__(self, node: Localnet, methods: Mapping[str, Handler]) -> None:
        self.node, self.methods = node, methods
        self.requests = 0  # JSON-RPC requests answered (a batch counts each item)

    async def handle(self, body: bytes) -> bytes | None:
        """The response body, or None when nothing is to be answered (notifications)."""
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return orjson.dumps(_error(None, RpcError(PARSE_ERROR, "Parse error")))
        if isinstance(request, list):
            if not request:
                return orjson.dumps(_error(None, RpcError(INVALID_REQUEST, "Invalid request")))
            answers = [answer for item in request if (answer := await self.one(item)) is not None]
            return orjson.dumps(answers) if answers else None
        answer = await self.one(request)
        return None if answer is None else orjson.dumps(answer)

    async def one(self, request: Any) -> Answer | None:
        """The answer to one request (None for a notification)."""
        self.requests += 1
        if not _well_formed(request):
            request_id = request.get("id") if isinstance(request, dict) else None
            echoed = request_id if _valid_id(request_id) else None
            return _error(echoed, RpcError(INVALID_REQUEST, "Invalid request"))
        request_id, method = request.get("id"), request["method"]
        try:
            result = await self._call(method, request.get("params", []))
        except RpcError as exc:
            answer = _error(request_id, exc)
        else:
            answer = {"jsonrpc": "2.0", "result": result, "id": request_id}
        return answer if "id" in request else None

    async def _call(self, method: str, params: Any) -> Any:
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        if params is None:
            params = []
        if not isinstance(params, list):
            raise invalid_params("Invalid params: params must be an array")
        try:
            return await handler(self.node, params)
        except ChainUnavailableError as exc:
            log.info("%s: %s", method, exc)
            raise node_unhealthy() from exc
        except RpcError:
            raise
        except Exception as exc:
            log.exception("%s failed", method)
            raise RpcError(INTERNAL_ERROR, "Internal error") from exc


def _valid_id(request_id: Any) -> bool:
    return request_id is None or (
        isinstance(request_id, str | int) and not isinstance(request_id, bool)
    )


def _well_formed(request: Any) -> bool:
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        return False
    return isinstance(request.get("method"), str) and _valid_id(request.get("id"))
