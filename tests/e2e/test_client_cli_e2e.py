"""The client commands (`submit`, `orders`, `order`, `cancel`, `quote`), the real console
script in its own process, against a running engine (served in the test's event loop)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from order_engine.client.output import price as significant
from order_engine.settings import Settings
from tests.e2e.harness import HAPPY, TERMINAL, RunningEngine, free_socket, running_engine

ORDER_ENGINE = Path(sys.executable).parent / "order-engine"
STEPS = {"pending", "waiting", "routing", "building", "submitted"} | TERMINAL
CLIENT_ENV = ("ORDER_ENGINE_URL", "ORDER_ENGINE_API_KEY", "NO_COLOR", "FORCE_COLOR", "COLUMNS")


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def steps(self) -> list[list[str]]:
        """The lifecycle lines, split into words (a continuation line is indented)."""
        words = [line.split() for line in self.out.splitlines() if line[:1].strip()]
        return [w for w in words if w and w[0] in STEPS]


def client_env(eng: RunningEngine | None, tmp_path: Path, **extra: str) -> dict[str, str]:
    """No engine setting of this environment; the engine's URL and key in ORDER_ENGINE_*."""
    names = set(Settings.model_fields)
    env = {k: v for k, v in os.environ.items() if k.lower() not in names}
    env = {k: v for k, v in env.items() if k not in CLIENT_ENV}
    env["DATA_DIR"] = str(tmp_path / "client")  # no admin.key there
    if eng is not None:
        env["ORDER_ENGINE_URL"] = eng.base_url
        if eng.api_key is not None:
            env["ORDER_ENGINE_API_KEY"] = eng.api_key
    return env | extra


async def start(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(ORDER_ENGINE), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def finish(process: asyncio.subprocess.Process) -> Ran:
    out, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


async def run(*args: str, env: dict[str, str]) -> Ran:
    return await finish(await start(*args, env=env))


def row_of(ran: Ran, order_id: str) -> list[str]:
    (row,) = [line.split() for line in ran.out.splitlines() if line.startswith(order_id)]
    return row


async def test_submit_shows_every_step_with_timings_then_the_fill(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        env = client_env(eng, tmp_path)  # the engine from ORDER_ENGINE_URL, no --url
        ran = await run("submit", "SOL", "USDC", "1.5", "--slippage-bps", "200", env=env)
        order_id = ran.out.splitlines()[0].removeprefix("order ")
        order = (await eng.client.get(f"/api/orders/{order_id}")).json()
        events = (await eng.client.get(f"/api/orders/{order_id}/events")).json()["events"]
    assert ran.code == 0, ran.err
    assert ran.err == ""
    assert "\x1b" not in ran.out  # not a terminal: plain text
    assert [words[0] for words in ran.steps] == HAPPY
    # the time since the step before (none for the first) and since the order was accepted
    pending, routing, building, submitted, confirmed = ran.steps
    assert pending[1:4] == ["0", "ms", "market"]
    assert routing[1].startswith("+") and routing[2] in {"ms", "s"}
    assert routing[5:7] == ["attempt", "1"]
    assert building[5] == f"{order['dex']}:"  # the routing decision: the venue, and why
    assert events[2]["reason"] in ran.out
    assert f"tx {order['txHash']} ({order['dex']})" in " ".join(submitted)
    amount_out = str(Decimal(order["amountOut"]).normalize())
    price = significant(order["executedPrice"])  # 10 significant digits for people
    fill = [line for line in ran.out.splitlines() if line.startswith("filled ")]
    assert fill == [
        f"filled 1.5 SOL -> {amount_out} USDC at {price} USDC/SOL on {order['dex']} "
        f"in {' '.join(confirmed[3:5])}"
    ]
    assert ran.out.splitlines()[-1] == f"tx {order['txHash']} ({order['dex']})"
    assert order["status"] == "confirmed"


async def test_submit_json_prints_the_events_as_json_lines(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        ran = await run("submit", "SOL", "USDC", "1", "--json", env=client_env(eng, tmp_path))
        events = [json.loads(line) for line in ran.out.splitlines()]
        order_id = events[0]["orderId"]
        logged = (await eng.client.get(f"/api/orders/{order_id}/events")).json()["events"]
    assert ran.code == 0, ran.err
    assert [e["status"] for e in events] == HAPPY
    assert events == logged


async def test_a_failed_order_exits_1_and_shows_why_in_orders_and_order(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        env = client_env(eng, tmp_path)
        good = await eng.order_id({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"})
        await eng.stream(good)
        ran = await run("submit", "SOL", "USDC", "5000", "--max-price-impact-bps", "1", env=env)
        failed_id = ran.out.splitlines()[0].removeprefix("order ")
        listed = await run("orders", env=env)
        only_failed = await run("orders", "--status", "failed", env=env)
        as_json = await run("orders", "--json", "--limit", "1", env=env)
        page = (await eng.client.get("/api/orders", params={"limit": 1})).json()
        shown = await run("order", failed_id, env=env)
        filled = await run("order", good, env=env)
        filled_json = await run("order", good, "--json", env=env)
        order = (await eng.client.get(f"/api/orders/{good}")).json()
    assert ran.code == 1, ran.out
    assert [words[0] for words in ran.steps] == ["pending", "routing", "failed"]
    assert ran.steps[-1][5] == "price_impact_too_high:"
    assert ran.out.splitlines()[-1].startswith("not filled: failed (price_impact_too_high) after")
    assert listed.code == 0, listed.err
    header = listed.out.splitlines()[0].split()
    assert header == ["ID", "TYPE", "STATUS", "PAIR", "IN", "OUT", "PRICE", "VENUE", "CREATED"]
    assert row_of(listed, failed_id)[1:6] == ["market", "failed", "SOL/USDC", "5000", "-"]
    good_row = row_of(listed, good)
    assert good_row[1:5] == ["market", "confirmed", "SOL/USDC", "2"]
    assert good_row[5] == str(Decimal(order["amountOut"]).normalize())
    assert good_row[7] == order["dex"]
    assert failed_id in only_failed.out and good not in only_failed.out
    assert without_tokens(json.loads(as_json.out)) == without_tokens(page)
    assert page["nextCursor"]
    assert shown.code == 0, shown.err
    assert ["error", "price_impact_too_high:", "selling", "5000", "SOL"] in words(shown.out, 5)
    assert ["max", "price", "impact", "1", "bps"] in words(shown.out, 5)
    assert filled.code == 0, filled.err
    assert ["tx", order["txHash"]] in words(filled.out, 2)
    payer = "the engine's wallet" if order["wallet"] == "engine" else order["wallet"]
    assert any(line.startswith("paid by") and payer in line for line in filled.out.splitlines())
    assert f"{order['dex']}   2   " in filled.out  # the transactions table
    timeline = Ran(0, filled.out.split("\ntimeline\n")[1], "")
    assert [words[0] for words in timeline.steps] == HAPPY
    assert without_tokens(json.loads(filled_json.out)) == without_tokens(order)


def words(text: str, n: int) -> list[list[str]]:
    """The first `n` words of each line."""
    return [line.split()[:n] for line in text.splitlines()]


def without_tokens(body: Any) -> Any:
    """`body` without its stream URLs (each answer carries a fresh stream token)."""
    if isinstance(body, list):
        return [without_tokens(item) for item in body]
    if isinstance(body, dict):
        skip = {"wsUrl", "websocketUrl"}
        return {k: without_tokens(v) for k, v in body.items() if k not in skip}
    return body


async def test_cancel_a_waiting_limit_order_while_submit_follows_it(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        env = client_env(eng, tmp_path)
        limit = ("SOL", "USDC", "1", "--type", "limit", "--limit-price", "1000")
        following = await start("submit", *limit, env=env)
        order_id = await waiting_order(eng)
        cancelled = await run("cancel", order_id, env=env)
        followed = await finish(following)
        again = await run("cancel", order_id, env=env)
        accepted = await run("submit", *limit, "--no-wait", "--json", env=env)
        state = (await eng.client.get(f"/api/orders/{order_id}")).json()["status"]
    assert cancelled.code == 0, cancelled.err
    assert cancelled.out == f"order {order_id} is cancelled\n"
    assert followed.code == 1
    assert [words[0] for words in followed.steps] == ["pending", "waiting", "cancelled"]
    assert followed.steps[1][5:8] == ["limit", "1000", "USDC/SOL,"]
    assert followed.out.splitlines()[-1].startswith("not filled: cancelled (cancelled by user)")
    assert state == "cancelled"
    assert again.code == 1
    assert again.err.startswith("order-engine: not_cancellable: ")
    assert again.err.count("\n") == 1
    assert accepted.code == 0, accepted.err
    assert json.loads(accepted.out)["status"] == "pending"  # --no-wait: accepted, exit 0


async def waiting_order(eng: RunningEngine) -> str:
    for _ in range(200):
        page = (await eng.client.get("/api/orders", params={"status": "waiting"})).json()
        if page["items"]:
            order_id: str = page["items"][0]["orderId"]
            return order_id
        await asyncio.sleep(0.05)
    raise AssertionError("no order reached waiting")


async def test_quote_shows_the_routing_decision(tmp_path: Path) -> None:
    async with running_engine(tmp_path) as eng:
        env = client_env(eng, tmp_path)
        ran = await run("quote", "SOL", "USDC", "2", env=env)
        as_json = await run("quote", "SOL", "USDC", "2", "--slippage-bps", "100", "--json", env=env)
        params = {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "2"}
        found = (await eng.client.get("/api/quote", params=params)).json()
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split() == ["quote", "2", "SOL", "->", "USDC"]
    best = lines[1].split()
    assert best[0] == "best" and best[3] == "USDC"
    assert lines[2].split()[0] == "min" and lines[2].split()[4:] == ["(slippage", "50", "bps)"]
    assert lines[3].split()[:2] == ["price", "impact"]
    assert lines[4].split()[:3] == ["why", best[1].rstrip(":"), "returns"]
    table = [line.split() for line in lines[lines.index("venues") + 3 :]]
    assert {row[0] for row in table} == {quote["venue"] for quote in found["quotes"]}
    (chosen,) = [row for row in table if row[0] == best[1].rstrip(":")]
    assert chosen[1:3] == best[2:4]  # the best venue's output is the route's (no split)
    body = json.loads(as_json.out)
    assert body["slippageBps"] == 100 and body.keys() == found.keys()
    assert body["dex"] in {quote["venue"] for quote in body["quotes"]}


async def test_errors_are_one_line(tmp_path: Path) -> None:
    with free_socket() as sock:  # a port nothing listens on
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with running_engine(tmp_path) as eng:
        env = client_env(eng, tmp_path)
        unreachable = await run("orders", "--url", closed, env=env)
        bad_key = await run("submit", "SOL", "USDC", "1", "--api-key", "oe_0_bad", env=env)
        unknown = await run("order", "6ff741b4-0000-4000-8000-000000000000", env=env)
        same = await run("quote", "SOL", "SOL", "1", env=env)
        usage = await run("submit", "SOL", env=env)
        orders = (await eng.client.get("/api/orders")).json()["items"]
    for ran in (unreachable, bad_key, unknown, same):
        assert ran.code == 1 and ran.out == "", ran
        assert ran.err.count("\n") == 1 and ran.err.startswith("order-engine: "), ran.err
    assert unreachable.err.startswith(f"order-engine: cannot reach the engine at {closed}: ")
    assert bad_key.err.startswith("order-engine: unauthenticated: ")
    assert unknown.err.startswith("order-engine: order_not_found: ")
    assert same.err.startswith("order-engine: same_token: ")
    assert usage.code == 2
    assert orders == []  # the bad key submitted nothing


async def test_open_mode_follows_with_the_stream_token(tmp_path: Path) -> None:
    """No key at all: the submit's wsUrl token opens the stream."""
    async with running_engine(tmp_path, auth_mode="open") as eng:
        assert eng.api_key is None
        ran = await run("submit", "SOL", "USDC", "1", env=client_env(eng, tmp_path))
    assert ran.code == 0, ran.err
    assert [words[0] for words in ran.steps] == HAPPY
