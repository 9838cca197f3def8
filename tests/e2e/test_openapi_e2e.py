"""The API documents itself truthfully: Schemathesis, with every check, against the live
engine's `/openapi.json` (the real `order-engine serve`, simulated venues), bounded in
examples and time, finds nothing. Its per-operation allowances are in schemathesis.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from order_engine.api.models import (
    EventView,
    Launches,
    LegView,
    OrderPage,
    OrderView,
    QuoteView,
)
from tests.e2e.harness import DEFAULT_ORDER, running_engine
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
             "--request-timeout", "10", "--no-color"],
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
        cancelled = (await eng.client.post(f"/api/orders/{limit}/cancel")).json()
        launches = (await eng.client.get("/api/admin/launches")).json()
    assert [v["status"] for v in views] == ["confirmed", "waiting", "waiting"], views
    for view in [*views, *page["items"], cancelled]:
        OrderView.model_validate(view)
    assert {v["type"] for v in views} == {"market", "limit", "sniper"}
    assert [LegView.model_validate(leg).state for leg in views[0]["legs"]] == ["landed"]
    OrderPage.model_validate(page)
    assert [EventView.model_validate(e).status for e in events["events"]][-1] == "confirmed"
    QuoteView.model_validate(quote)
    Launches.model_validate(launches)
