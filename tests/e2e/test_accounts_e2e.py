"""Accounts through real HTTP and WebSocket: every order belongs to an account and only
that account (or an admin) sees, streams or cancels it; scopes; revoked and expired keys;
stream tokens; a cross-site form POST; keys never in logs or errors; the audit trail."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from order_engine.adapters.clock import SystemClock
from order_engine.domain.accounts import Scope
from order_engine.domain.stream_tokens import StreamTokens
from order_engine.engine.accounts import AccountAdmin
from order_engine.settings import Settings
from tests.e2e.harness import DEFAULT_ORDER, RunningEngine, running_engine

WAITING_LIMIT = {**DEFAULT_ORDER, "type": "limit", "limitPrice": "100000"}  # never fills


@dataclass
class Caller:
    name: str
    account_id: str
    key_id: str
    key: str
    client: httpx.AsyncClient

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Two:
    eng: RunningEngine
    admin: AccountAdmin
    alice: Caller
    bob: Caller

    async def caller(self, name: str, scope: Scope = Scope.TRADE, **kw: Any) -> Caller:
        account = await self.admin.find_account(name)
        key, token = await self.admin.create_key(name, scope, **kw)
        client = httpx.AsyncClient(
            base_url=self.eng.base_url,
            timeout=10,
            headers={"Authorization": f"Bearer {token.reveal()}"},
        )
        return Caller(name, account.id, key.id, token.reveal(), client)


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[Two]:
    async with running_engine(tmp_path) as eng:
        admin = AccountAdmin(eng.engine.adapters.accounts, SystemClock())
        for name in ("alice", "bob"):
            await admin.create_account(name)
        made = Two(eng, admin, None, None)  # type: ignore[arg-type]
        made.alice, made.bob = await made.caller("alice"), await made.caller("bob")
        try:
            yield made
        finally:
            for caller in (made.alice, made.bob):
                await caller.client.aclose()


async def bare(eng: RunningEngine, method: str, path: str, **kw: Any) -> httpx.Response:
    """A request with no key (a fresh client, closed after)."""
    async with httpx.AsyncClient(base_url=eng.base_url, timeout=10) as client:
        return await client.request(method, path, **kw)


async def submit(caller: Caller, body: dict[str, Any] = WAITING_LIMIT, **headers: str) -> str:
    response = await caller.client.post("/api/orders/execute", json=body, headers=headers)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["orderId"]
    return order_id


async def ws_close(eng: RunningEngine, query: str, headers: dict[str, str]) -> tuple[int, str]:
    """Open the stream; read until the server closes it: its code and reason."""
    async with connect(
        f"{eng.ws_base}/api/orders/execute{query}", additional_headers=headers
    ) as ws:
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def test_each_account_sees_only_its_own_orders_on_every_endpoint(two: Two) -> None:
    own = {"alice": await submit(two.alice), "bob": await submit(two.bob)}
    for me, other in ((two.alice, two.bob), (two.bob, two.alice)):
        mine, theirs = own[me.name], own[other.name]
        for path in ("/api/orders/{}", "/api/orders/{}/events"):
            assert (await me.client.get(path.format(mine))).status_code == 200
            foreign = await me.client.get(path.format(theirs))
            assert (foreign.status_code, foreign.json()["error"]["code"]) == (
                404,
                "order_not_found",
            )
        sse = await me.client.get(
            f"/api/orders/{theirs}/events", headers={"Accept": "text/event-stream"}
        )
        assert sse.status_code == 404
        listed = (await me.client.get("/api/orders")).json()["items"]
        assert [o["orderId"] for o in listed] == [mine]
        assert await ws_close(two.eng, f"?orderId={theirs}", me.auth) == (4404, "order not found")
        cancel = await me.client.post(f"/api/orders/{theirs}/cancel", json={})
        assert cancel.status_code == 404
    for order_id in own.values():  # nobody cancelled anybody else's
        assert (await two.eng.client.get(f"/api/orders/{order_id}")).json()["status"] == "waiting"
    everyone = (await two.eng.client.get("/api/orders")).json()["items"]  # the admin's key
    assert set(own.values()) <= {o["orderId"] for o in everyone}
    only_bob = await two.eng.client.get("/api/orders", params={"accountId": two.bob.account_id})
    assert [o["orderId"] for o in only_bob.json()["items"]] == [own["bob"]]
    own_cancel = await two.alice.client.post(f"/api/orders/{own['alice']}/cancel", json={})
    assert own_cancel.json()["status"] == "cancelled"


async def test_scopes_revoked_and_expired_keys(two: Two) -> None:
    reader = await two.caller("alice", Scope.READ)
    order_id = await submit(two.alice)
    assert (await reader.client.get(f"/api/orders/{order_id}")).status_code == 200
    refused = await reader.client.post("/api/orders/execute", json=DEFAULT_ORDER)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert (await reader.client.post(f"/api/orders/{order_id}/cancel", json={})).status_code == 403
    launch = {"symbol": "SCOPE", "venue": "raydium", "price": "0.001"}
    assert (await two.alice.client.post("/api/admin/launch", json=launch)).status_code == 403
    await two.admin.revoke_key(two.alice.key_id)
    await asyncio.sleep(2.1)  # the authenticator remembers a key for up to 2 s
    revoked = await two.alice.client.get(f"/api/orders/{order_id}")
    assert revoked.status_code == 401 and revoked.headers["WWW-Authenticate"].startswith("Bearer")
    short = await two.caller("bob", expires="1s")
    assert (await short.client.get("/api/orders")).status_code == 200
    await asyncio.sleep(1.1)
    assert (await short.client.get("/api/orders")).status_code == 401
    for client in (reader.client, short.client):
        await client.aclose()
    anonymous = await bare(two.eng, "GET", "/api/orders")
    assert anonymous.status_code == 401
    assert (await bare(two.eng, "GET", "/health")).status_code == 200


async def test_a_stream_token_opens_its_order_only_and_expires(two: Two) -> None:
    response = await two.alice.client.post("/api/orders/execute", json=DEFAULT_ORDER)
    ws_url, order_id = response.json()["wsUrl"], response.json()["orderId"]
    other = await submit(two.bob)
    async with connect(ws_url) as ws:  # no key: the token opens it
        events = [orjson.loads(m) async for m in ws]
        assert ws.close_code == 1000
    assert events[-1]["status"] == "confirmed"
    token = ws_url.split("token=", 1)[1]
    assert (await ws_close(two.eng, f"?orderId={other}&token={token}", {}))[0] == 4403
    sse = await bare(two.eng, "GET", f"/api/orders/{order_id}/events", params={"token": token})
    assert sse.status_code == 200 and sse.json()["events"][-1]["status"] == "confirmed"
    secret = await two.eng.engine.adapters.accounts.shared_secret("stream-tokens")
    stale = StreamTokens(secret, ttl_s=10).issue(order_id, SystemClock().now_ms() - 60_000)
    code, reason = await ws_close(two.eng, f"?orderId={order_id}&token={stale}", {})
    assert code == 4401 and "expired" in reason
    assert (await ws_close(two.eng, f"?orderId={order_id}", {}))[0] == 4401  # no key, no token


async def test_a_cross_site_form_post_does_nothing(two: Two) -> None:
    order_id = await submit(two.alice)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    anonymous = await bare(
        two.eng, "POST", f"/api/orders/{order_id}/cancel", content=b"x=1", headers=form
    )
    assert anonymous.status_code == 401
    with_key = await two.alice.client.post(
        f"/api/orders/{order_id}/cancel", content=b"x=1", headers=form
    )
    assert with_key.status_code == 415
    submit_form = await two.alice.client.post(
        "/api/orders/execute", content=b"tokenIn=SOL", headers=form
    )
    assert submit_form.status_code == 415
    status = (await two.alice.client.get(f"/api/orders/{order_id}")).json()["status"]
    assert status in ("pending", "waiting")  # not cancelled (the worker may not have run yet)


async def test_keys_never_appear_in_logs_or_errors(
    two: Two, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = two.alice.key.split("_", 2)[2]  # oe_<key id>_<secret>; a secret may hold "_"
    wrong = two.alice.key[:-4] + "AAAA"
    for header in (f"Bearer {wrong}", f"Basic {two.alice.key}", f"Bearer {two.alice.key}x"):
        response = await bare(two.eng, "GET", "/api/orders", headers={"Authorization": header})
        assert response.status_code == 401
        assert secret not in response.text and wrong not in response.text
    await submit(two.alice)
    assert secret not in caplog.text and wrong.split("_", 2)[2] not in caplog.text
    assert two.alice.key_id in caplog.text  # the key id names it, in the refusals


async def test_idempotency_keys_are_per_account_and_changes_name_their_actor(two: Two) -> None:
    key = {"Idempotency-Key": "same-key"}
    first = await submit(two.alice, WAITING_LIMIT, **key)
    other_body = {**WAITING_LIMIT, "amountIn": "2"}
    bobs = await submit(two.bob, other_body, **key)  # another account: not a conflict
    assert bobs != first
    replay = await two.alice.client.post("/api/orders/execute", json=WAITING_LIMIT, headers=key)
    assert replay.status_code == 200 and replay.json()["orderId"] == first
    cancelled = await two.eng.client.post(f"/api/orders/{first}/cancel", json={})  # the admin
    assert cancelled.status_code == 200
    events = (await two.alice.client.get(f"/api/orders/{first}/events")).json()["events"]
    pending, done = events[0], events[-1]
    assert pending["actor"] == {"accountId": two.alice.account_id, "keyId": two.alice.key_id}
    admin = await two.admin.find_account("admin")
    assert done["status"] == "cancelled" and done["actor"]["accountId"] == admin.id
    assert "actor" not in events[1]  # the engine's own change (waiting)


async def test_serve_writes_the_admin_key_once_with_mode_0600(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        path = tmp_path / "admin.key"
        first = path.read_text()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert (await eng.client.get("/api/orders")).status_code == 200
    async with running_engine(tmp_path):
        assert path.read_text() == first  # accounts exist: not made again


async def test_open_mode_needs_loopback_and_acts_for_the_local_account(tmp_path: Path) -> None:
    problem = Settings(auth_mode="open", host="0.0.0.0", _env_file=None).problem_for("serve")
    assert problem is not None and "AUTH_MODE=open" in problem
    async with running_engine(tmp_path, auth_mode="open") as eng:
        assert eng.api_key is None and not (tmp_path / "admin.key").exists()
        order_id = await eng.order_id()
        events = await eng.stream(order_id)
        local = await eng.engine.adapters.accounts.find_account_by_name("local")
        assert local is not None and events[0]["actor"]["accountId"] == local.id
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        forged = await eng.client.post(f"/api/orders/{order_id}/cancel", headers=form)
        assert forged.status_code == 415
