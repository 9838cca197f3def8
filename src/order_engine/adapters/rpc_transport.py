"""How JSON-RPC bodies reach a Solana node: an HTTP POST (`RpcTransport`), and the batcher
that turns the calls a process makes in one event-loop turn into one POST.

`AiohttpTransport` is the default (its C HTTP parser and simple pool cost a fraction of
httpx's CPU per request under load: httpcore checked every pooled socket per request);
`HttpxTransport` wraps an `httpx.AsyncClient` (tests give it a mock transport).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import aiohttp
import httpx
import orjson

from order_engine.domain.errors import ChainUnavailableError, TransactionRejectedError

log = logging.getLogger(__name__)
HEADERS = {"Content-Type": "application/json"}
POOL_SIZE = 16  # keep-alive connections to the node
DEFAULT_BATCH_MAX = 50  # calls per POST (some providers cap batches; 1 turns batching off)
# bytes per POST: Solana's RPC refuses a larger body with HTTP 413 (MAX_REQUEST_BODY_SIZE);
# 50 sends of one full-size transaction each (~1.7 KB as base64) would be ~85 KB
DEFAULT_BATCH_MAX_BYTES = 50 * 1024
ID_SLACK = 8  # bytes per call for the batch's separators and its position id
Call = tuple[str, "asyncio.Future[str]"]  # a call's body, and its caller's answer
# POSTs out at once; calls made meanwhile wait and leave together (bench-production,
# 2026-12-04: 2.5-3.3 HTTP requests per order uncapped or with 2 out at once, 2.1 with one)
DEFAULT_MAX_IN_FLIGHT = 1
# Where a call goes in its batch (a stable sort; JSON-RPC lets a node take a batch's calls in
# any order, and a local node takes them in order): reads of state first, so a read never
# holds a transaction sent in its own batch (a process prices its pools behind its own swaps
# in flight: one that the read held too would count twice); then sends; then the looks at
# transactions, so that a look sent with its transaction finds it on a chain that lands
# transactions as they come.
READ, SEND, LOOK = 0, 1, 2


class RequestTooLargeError(TransactionRejectedError):
    """The node refused the request body as too large (HTTP 413): final for a lone call,
    a reason to split a batch."""


class RequestRefusedError(TransactionRejectedError):
    """The node refused the request as a whole (an HTTP 4xx other than 413 and 429): final
    for a lone call; a batch is sent again call by call (some nodes take no batches)."""


# JSON-RPC's codes for a request the node will not take in this shape: answered to a whole
# batch, batching is off for the rest of the process
SHAPE_REFUSED_CODES = frozenset({-32600, -32601})


class RpcTransport(Protocol):
    async def post(self, body: bytes) -> tuple[int, bytes]:
        """POST `body`; the HTTP status and body. `ChainUnavailableError` if no answer."""
        ...

    async def close(self) -> None: ...


class AiohttpTransport:
    def __init__(self, url: str, timeout_s: float) -> None:
        self._url, self._timeout = url, aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self._session is None:  # made on the loop that uses it
            connector = aiohttp.TCPConnector(limit=POOL_SIZE)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        try:
            async with self._session.post(self._url, data=body, headers=HEADERS) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChainUnavailableError(
                f"{self._url} did not answer ({type(exc).__name__})"
            ) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpxTransport:
    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self._url, self._client = url, client

    async def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            response = await self._client.post(self._url, content=body, headers=HEADERS)
        except httpx.HTTPError as exc:
            raise ChainUnavailableError(
                f"{self._url} did not answer ({type(exc).__name__})"
            ) from exc
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


class RpcBatcher:
    """Calls queued in the same event-loop turn leave as one JSON-RPC batch POST (up to
    `batch_max` calls and `max_bytes` of body; a batch the node refuses as too large anyway
    is sent again in pieces of half its size, the limit from then on); identical calls
    queued together share one answer (each started before the POST went out, so the answer
    is no older than any of them). A lone call goes as itself. At most `max_in_flight`
    POSTs are out at once: calls made meanwhile wait for one to come back and leave
    together, so under load a POST carries many orders' calls (fewer HTTP requests for both
    ends) and when idle a call leaves at once. `send` posts a body and returns the answer's
    body (raises for HTTP faults).
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[bytes]],
        batch_max: int,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_bytes: int = DEFAULT_BATCH_MAX_BYTES,
    ) -> None:
        self._send, self._batch_max = send, max(1, batch_max)
        self._max_bytes = max_bytes
        self._max_in_flight = max(1, max_in_flight)
        self._in_flight = 0
        self._queued: dict[str, asyncio.Future[str]] = {}
        self._stages: dict[str, int] = {}  # of the queued calls that are not `READ`s
        self._flushing = False

    async def call(self, body: str, stage: int = READ) -> str:
        """The answer (one JSON-RPC response object, as text) to the request `body`;
        `stage`: its place in its batch (`READ`, `SEND`, `LOOK`)."""
        future = self._queued.get(body)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._queued[body] = future
            if stage != READ:
                self._stages[body] = stage
            self._flush_soon()
        return await asyncio.shield(future)

    def _flush_soon(self) -> None:
        if not self._flushing and self._in_flight < self._max_in_flight:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        while self._queued and self._in_flight < self._max_in_flight:
            chunk = self._next_chunk()
            for body, _ in chunk:
                del self._queued[body]
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._post(chunk))

    def _next_chunk(self) -> list[Call]:
        """The oldest queued calls that fit one POST (at least one, however large), in
        their stages' order."""
        chunk = _fit(itertools.islice(self._queued.items(), self._batch_max), self._max_bytes)
        stages = {body: self._stages.pop(body, READ) for body, _ in chunk}
        chunk.sort(key=lambda call: stages[call[0]])
        return chunk

    async def _post(self, chunk: list[Call]) -> None:
        try:
            await self._deliver(chunk)
        finally:
            self._in_flight -= 1
            if self._queued:
                self._flush_soon()

    def _split(self, chunk: list[Call]) -> list[list[Call]]:
        """`chunk` in pieces that fit the (lowered) byte limit."""
        pieces: list[list[Call]] = []
        while chunk:
            pieces.append(_fit(chunk, self._max_bytes))
            chunk = chunk[len(pieces[-1]) :]
        return pieces

    def _no_batches(self, refused: Exception) -> None:
        """A batch came back refused as a whole: its calls go again one by one, and if the
        node said it takes no such request, every later call too."""
        if isinstance(refused, _BatchAnsweredAsOne) and refused.code not in SHAPE_REFUSED_CODES:
            return  # e.g. the node is unhealthy: each call will hear it for itself
        if self._batch_max > 1:
            log.warning("the node refused a batch of calls (%s); sending calls one by one", refused)
            self._batch_max = 1

    async def _deliver(self, chunk: list[Call]) -> None:
        """POST the chunk and settle its callers' futures (a refused batch: in pieces)."""
        try:
            if len(chunk) == 1:
                answers = [(await self._send(chunk[0][0].encode())).decode()]
            else:
                body = _batch_body(chunk)
                try:
                    answers = _split_answers(await self._send(body), len(chunk))
                except RequestTooLargeError:
                    self._max_bytes = min(self._max_bytes, len(body) // 2)
                    await asyncio.gather(*(self._deliver(c) for c in self._split(chunk)))
                    return
                except (RequestRefusedError, _BatchAnsweredAsOne) as refused:
                    self._no_batches(refused)
                    await asyncio.gather(*(self._deliver([call]) for call in chunk))
                    return
        except Exception as exc:  # every caller gets the fault (reads retry themselves)
            for _, future in chunk:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(chunk, answers, strict=True):
            if not future.done():
                future.set_result(answer)


def _fit(items: Iterable[Call], max_bytes: int) -> list[Call]:
    """The leading calls of `items` whose batch body fits `max_bytes` (at least one)."""
    chunk: list[Call] = []
    size = 2  # the array's brackets
    for item in items:
        size += len(item[0]) + ID_SLACK
        if chunk and size > max_bytes:
            break
        chunk.append(item)
    return chunk


def _batch_body(chunk: list[tuple[str, Any]]) -> bytes:
    """The calls as one JSON array, each with its position as its id."""
    items = []
    for n, (body, _) in enumerate(chunk):
        item = orjson.loads(body)
        item["id"] = n
        items.append(item)
    return orjson.dumps(items)


class _BatchAnsweredAsOne(Exception):
    """One JSON-RPC object (an error) answered a whole batch."""

    def __init__(self, code: object) -> None:
        super().__init__(f"one answer for the whole batch (code {code})")
        self.code = code


def _split_answers(raw: bytes, count: int) -> list[str]:
    """A batch answer as one text per call, in call order (a missing or malformed answer
    becomes an unreadable one, which the caller treats as transient; one object for the
    whole batch raises `_BatchAnsweredAsOne`)."""
    try:
        answers = orjson.loads(raw)
    except orjson.JSONDecodeError:
        answers = None
    if isinstance(answers, dict):
        error = answers.get("error")
        raise _BatchAnsweredAsOne(error.get("code") if isinstance(error, dict) else None)
    if not isinstance(answers, list):
        return [raw.decode(errors="replace")] * count
    by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
    return [orjson.dumps(by_id[n]).decode() if n in by_id else "" for n in range(count)]
