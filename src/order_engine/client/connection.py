"""HTTP and the order stream of a running engine, for the command-line client.

Every failure becomes a `ClientError` whose text is one line: the engine's own error
(`code: message`), or why the engine could not be reached."""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from order_engine.client_key import auth_headers
from order_engine.watch import ws_url_for

TERMINAL = frozenset({"confirmed", "failed", "cancelled", "expired"})
HTTP_TIMEOUT_S = 30.0
RECONNECT_FOR_S = 30.0  # a dropped stream is opened again (after the last seq) this long
IDLE_TICK_S = 1.0  # `follow` yields None after this long without an event
# close codes worth opening the stream again for: going away (a restart), no close frame
# (the connection dropped), service restart, try again later (a dependency is down)
RETRY_CLOSE_CODES = frozenset({1001, 1006, 1012, 1013})
CLOSE_ERRORS = {4400: "bad_request", 4401: "unauthenticated", 4403: "forbidden"}
CLOSE_ERRORS |= {4404: "order_not_found", 1011: "internal_error"}


class ClientError(Exception):
    """One line for stderr (without the `order-engine: ` prefix)."""


@dataclass
class _Seen:
    """What a stream has shown: the last seq, and when the engine was last heard from."""

    seq: int = 0
    contact: float = field(default_factory=time.monotonic)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


class EngineClient:
    """A running engine at `base_url`, called with the API key `key` resolves to
    (`--api-key`, else `ORDER_ENGINE_API_KEY`, else `DATA_DIR/admin.key`)."""

    def __init__(self, base_url: str, key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = auth_headers(key)
        self._http = httpx.Client(base_url=self.base_url, timeout=HTTP_TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        given = {k: v for k, v in (params or {}).items() if v is not None}
        return self._call("GET", path, params=given)

    def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return self._call("POST", path, json=body, headers=headers or {})

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            why = _first_line(exc)
            raise ClientError(f"cannot reach the engine at {self.base_url}: {why}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            where = f"{self.base_url}{path}"
            raise ClientError(f"{where} did not answer JSON (HTTP {response.status_code})") from exc
        if response.is_success and isinstance(body, dict):
            return body
        raise ClientError(_error_text(body, response.status_code))

    def follow(
        self, order_id: str, token: str | None = None
    ) -> Generator[dict[str, Any] | None, None, None]:
        """The order's events from the first, each once, until its terminal event; None
        after every `IDLE_TICK_S` without one. A dropped stream is opened again after the
        last event seen, for up to `RECONNECT_FOR_S` after the last contact."""
        seen = _Seen()
        while True:
            outcome = yield from self._session(self._stream_url(order_id, seen.seq, token), seen)
            if outcome is None:
                return
            code, reason = outcome
            if code not in RETRY_CLOSE_CODES or time.monotonic() > seen.contact + RECONNECT_FOR_S:
                raise ClientError(_close_text(code, reason, self.base_url))
            time.sleep(0.5)

    def _session(
        self, url: str, seen: _Seen
    ) -> Generator[dict[str, Any] | None, None, tuple[int | None, str] | None]:
        """One connection's new events; None once the terminal one is out, else how the
        stream ended (close code, reason)."""
        try:
            with connect(url, additional_headers=self.headers, open_timeout=10) as ws:
                seen.contact = time.monotonic()
                for event in _events(ws):
                    if event is not None and event["seq"] <= seen.seq:
                        continue  # already shown (a replay after reconnecting)
                    yield event
                    seen.contact = time.monotonic()  # an idle tick too: the stream is open
                    if event is not None:
                        seen.seq = event["seq"]
                        if event["status"] in TERMINAL:
                            return None
                return ws.close_code, ws.close_reason or ""
        except ConnectionClosed as exc:
            return _close_of(exc)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status >= 500:
                return 1013, f"HTTP {status}"
            raise ClientError(f"the engine refused the stream (HTTP {status})") from exc
        except InvalidURI as exc:
            raise ClientError(f"not a usable engine URL: {self.base_url} ({exc})") from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            return 1006, _first_line(exc)

    def _stream_url(self, order_id: str, after: int, token: str | None) -> str:
        url = ws_url_for(order_id, self.base_url, after or None)
        if token and not self.headers:  # no key (open mode, or a token-only caller)
            url += f"&token={token}"
        return url


def _events(ws: ClientConnection) -> Iterator[dict[str, Any] | None]:
    """Each message as an event, None after every idle `IDLE_TICK_S`; ends on a clean close
    (an abnormal one raises `ConnectionClosed`)."""
    while True:
        try:
            message = ws.recv(timeout=IDLE_TICK_S)
        except TimeoutError:
            yield None
            continue
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 1000:
                return
            raise
        event = json.loads(message)
        if isinstance(event, dict):
            yield event


def _close_of(exc: ConnectionClosed) -> tuple[int, str]:
    if exc.rcvd is None:
        return 1006, "the connection dropped"
    return exc.rcvd.code, exc.rcvd.reason


def _close_text(code: int | None, reason: str, base_url: str) -> str:
    if code in CLOSE_ERRORS:
        return f"{CLOSE_ERRORS[code]}: {reason or 'the engine closed the stream'}"
    if code == 1000:
        return "the stream ended before the order finished"
    return f"lost the order's stream at {base_url}: {reason or 'closed'} ({code})"


def _error_text(body: Any, status: int) -> str:
    """`code: message` of the engine's error shape, else the HTTP status."""
    try:
        error = body["error"]
        return f"{error['code']}: {error['message']}"
    except (KeyError, TypeError):
        return f"the engine answered HTTP {status}"


def stream_token(ws_url: str | None) -> str | None:
    """The `token=` of a `wsUrl`, if any."""
    if not ws_url or "token=" not in ws_url:
        return None
    return ws_url.split("token=", 1)[1].split("&", 1)[0]
