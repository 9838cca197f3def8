"""A worker process for the BullMQ integration tests: consumes a shared queue and appends one
JSON line per handler start and finish to `<out_dir>/<pid>.jsonl`; writes `<pid>.ready`
once consuming. SIGTERM closes the queue gracefully.

python -m tests.integration.bullmq_worker URL NAME PREFIX OUT_DIR [options]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from pathlib import Path

from order_engine.adapters.bullmq_queue import BullMqJobQueue
from order_engine.engine.ports import Job
from order_engine.engine.retry import RetryPolicy


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for name in ("redis_url", "name", "prefix", "out_dir"):
        parser.add_argument(name)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rate-max", type=int, default=0)
    parser.add_argument("--rate-window-s", type=float, default=1.0)
    parser.add_argument("--handler-s", type=float, default=0.0)
    parser.add_argument("--stalled-interval-ms", type=int, default=30_000)
    parser.add_argument("--lock-duration-ms", type=int, default=30_000)
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    out = Path(args.out_dir)
    log = (out / f"{os.getpid()}.jsonl").open("a", buffering=1)

    def record(event: str, job: Job) -> None:
        line = {"event": event, "order": job.order_id, "attempt": job.attempt, "t": time.time()}
        line["carried"] = job.order is not None  # the job carried its order to this delivery
        log.write(json.dumps({**line, "pid": os.getpid()}) + "\n")

    async def handler(job: Job) -> None:
        record("start", job)
        await asyncio.sleep(args.handler_s)
        record("done", job)

    queue = BullMqJobQueue(
        args.redis_url,
        RetryPolicy(max_attempts=3, backoff_base_s=0.05),
        name=args.name,
        prefix=args.prefix,
        concurrency=args.concurrency,
        rate_limit_max=args.rate_max,
        rate_limit_window_s=args.rate_window_s,
        stalled_interval_ms=args.stalled_interval_ms,
        lock_duration_ms=args.lock_duration_ms,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await queue.start(handler)
    (out / f"{os.getpid()}.ready").touch()
    await stop.wait()
    await queue.close(timeout_s=5.0)
    log.close()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
