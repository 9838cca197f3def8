"""The API documents itself truthfully: Schemathesis, with every check, against the live
engine's `/openapi.json` (the real `order-engine serve`, simulated venues), bounded in
examples and time, finds nothing. Its per-operation allowances are in schemathesis.toml.
And every answer and event of the real app validates against its documented model."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from order_engine.api.event_models import EVENT, OrderEvents
from order_engine.api.models import (
    Launches,
    LegView,
    OrderPage,
    OrderView,
    QuoteView,
)
from tests.e2e.harness import DEFAULT_ORDER, RunningEngine, running_engine
from tests.e2e.test_cli_e2e import env_with, free_port, serving

ROOT = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 20
SEED = 20261203  # fixed: a failure reproduces


def test_schemathesis_finds_nothing_with_every_check(tmp_path: Path) -> None:
    assert ST.exists() or shutil.which("st"), "schemathesis is a dev dependency"
    port = free_port()
    settings = {"venues": "sim", "port": port, "latency_scale": 0, "rate_limit_max": 0,
                "market_interval_s": 0, "data_dir": tmp_path / "data"}  # fmt: skip
    with serving(tmp_path, port, **settings) as served:
        done = subprocess.run(
            [str(ST), "run", f"{served.base_url}/openapi.json", "--checks", "all",
             "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
             "--request-timeout", "10", "--no-color",
             "--header", f"Authorization: Bearer {served.api_key}"],
            cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
            env=env_with(),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


async def test_orders_of_every_type_and_state_match_their_documented_models(
    tmp_path: Path,
) -> None:
    async with running_engine(tmp_path) as eng:
        market = await eng.order_id()
        await eng.stream(market)
        limit = await eng.order_id({**DEFAULT_ORDER, "type": "limit", "limitPrice": "100000"})
        sniper = await eng.order_id({**DEFAULT_ORDER, "tokenOut": "NEWT", "type": "sniper"})
        views = [(await eng.client.get(f"/api/orders/{i}")).json() for i in (market, limit, sniper)]
        page = (await eng.client.get("/api/orders?limit=10")).json()
        events = (await eng.client.get(f"/api/orders/{market}/events")).json()
        quote = (await eng.client.get("/api/quote?tokenIn=SOL&tokenOut=USDC&amountIn=2")).json()
        cancelled = (await eng.client.post(f"/api/orders/{limit}/cancel", json={})).json()
        launches = (await eng.client.get("/api/admin/launches")).json()
    assert [v["status"] for v in views] == ["confirmed", "waiting", "waiting"], views
    for view in [*views, *page["items"], cancelled]:
        OrderView.model_validate(view)
    assert {v["type"] for v in views} == {"market", "limit", "sniper"}
    assert [LegView.model_validate(leg).state for leg in views[0]["legs"]] == ["landed"]
    OrderPage.model_validate(page)
    assert [EVENT.validate_python(e).status for e in events["events"]][-1] == "confirmed"
    QuoteView.model_validate(quote)
    Launches.model_validate(launches)


LIFECYCLES = {  # what each order's events end with (in `after_all`, once all have run)
    "market": ["pending", "routing", "building", "submitted", "confirmed"],
    "split": ["pending", "routing", "building", "submitted", "confirmed"],
    "limit_filled": ["pending", "waiting", "routing", "building", "submitted", "confirmed"],
    "limit_cancelled": ["pending", "waiting", "cancelled"],
    "sniper_cancelled": ["pending", "waiting", "cancelled"],
    "limit_expired": ["pending", "waiting", "expired"],
    "failed": ["pending", "routing", "failed"],
}


async def submit_every_lifecycle(eng: RunningEngine) -> dict[str, str]:
    """One order of each lifecycle, each run to its end; name -> orderId."""
    limit = {**DEFAULT_ORDER, "type": "limit"}
    ids = {
        "split": await eng.order_id({**DEFAULT_ORDER, "amountIn": "2000", "slippageBps": 500}),
        "market": await eng.order_id(),
        "limit_filled": await eng.order_id({**limit, "limitPrice": "100"}),
        "limit_cancelled": await eng.order_id({**limit, "limitPrice": "100000"}),
        "sniper_cancelled": await eng.order_id(
            {**DEFAULT_ORDER, "tokenOut": "NEWT", "type": "sniper", "maxPrice": "0.5"}
        ),
        "limit_expired": await eng.order_id(
            {**limit, "limitPrice": "100000", "timeInForceSeconds": 1}
        ),
        "failed": await eng.order_id({**DEFAULT_ORDER, "amountIn": "5000", "maxPriceImpactBps": 1}),
    }
    for name in ("limit_cancelled", "sniper_cancelled"):
        await eng.stream_until(ids[name], "waiting")
        assert (
            await eng.client.post(f"/api/orders/{ids[name]}/cancel", json={})
        ).status_code == 200
    return ids


async def events_three_ways(eng: RunningEngine, order_id: str) -> list[list[dict[str, Any]]]:
    """The order's events as JSON, as Server-Sent Events and on the WebSocket (first: it
    waits for the end)."""
    socket = await eng.stream(order_id)
    listed = (await eng.client.get(f"/api/orders/{order_id}/events")).json()
    OrderEvents.model_validate(listed)
    sse = await eng.client.get(
        f"/api/orders/{order_id}/events", headers={"Accept": "text/event-stream"}
    )
    sent = [
        orjson.loads(line.removeprefix("data: "))
        for line in sse.text.splitlines()
        if line.startswith("data: ")
    ]
    return [listed["events"], sent, socket]


async def test_every_event_of_every_lifecycle_matches_its_status_model(tmp_path: Path) -> None:
    """Market (one venue and split), limit (filled, cancelled, expired), sniper (cancelled)
    and failed orders through the real app: every event, however it is read, validates
    against the model of its status (no field missing, none undocumented)."""
    # seed 1: the big order's quotes make splitting pay (as in test_split_e2e)
    async with running_engine(tmp_path, limit_check_interval_s=0.05, rng_seed=1) as eng:
        ids = await submit_every_lifecycle(eng)
        seen = {name: await events_three_ways(eng, order_id) for name, order_id in ids.items()}
    for name, (listed, sse, socket) in seen.items():
        assert listed == sse == socket, name
        assert [e["status"] for e in listed] == LIFECYCLES[name], (name, listed)
        for event in listed:
            model = EVENT.validate_python(event)
            assert type(model).__name__ == f"{event['status'].capitalize()}Event"
            assert model.model_dump(exclude_unset=True) == event
    split = seen["split"][0][2]
    assert split["dex"] == "raydium+meteora" and len(split["route"]) == 2, split
    assert seen["sniper_cancelled"][0][1]["token"] == "NEWT"
