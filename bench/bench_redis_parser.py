"""redis-py's reply parsers side by side: the pure-Python RESP3 parser vs hiredis (C), on
the engine's Redis shapes (one XREAD over 50 streams of 5 events, small pipelines).
Prints the client CPU seconds of each; needs a Redis at `--url`.

    .venv/bin/python -m bench.bench_redis_parser [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time

from redis._parsers import _AsyncHiredisParser, _AsyncRESP3Parser
from redis.asyncio import ConnectionPool, Redis

STREAMS, EVENTS, PAYLOAD = 50, 5, b"x" * 600


async def client_cpu_s(url: str, parser: type, reads: int, pipelines: int) -> float:
    client = Redis.from_pool(ConnectionPool.from_url(url, protocol=3, parser_class=parser))
    keys = [f"oe-bench-parser-{secrets.token_hex(4)}-{i}" for i in range(STREAMS)]
    try:
        for key in keys:
            for _ in range(EVENTS):
                await client.xadd(key, {"data": PAYLOAD})
        start = time.process_time()
        for _ in range(reads):
            await client.xread(dict.fromkeys(keys, "0-0"), count=1000)
        for _ in range(pipelines):
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(keys[1] + "-s")
                pipe.set(keys[1] + "-s", "1")
                pipe.expire(keys[1] + "-s", 10)
                await pipe.execute()
        return time.process_time() - start
    finally:
        await client.delete(*keys, keys[1] + "-s")
        await client.aclose()


async def main(url: str) -> None:
    for parser in (_AsyncRESP3Parser, _AsyncHiredisParser) * 2:
        cpu = await client_cpu_s(url, parser, reads=400, pipelines=2000)
        print(f"{parser.__name__:<22} {cpu:.2f} s CPU (400 XREADs of 50 streams, 2,000 pipelines)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="bench.bench_redis_parser", description=__doc__.split("\n")[0])
    p.add_argument("--url", default="redis://127.0.0.1:6379/0")
    asyncio.run(main(p.parse_args().url))
