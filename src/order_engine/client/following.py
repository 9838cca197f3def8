"""Follow a submitted order to its outcome: its steps as they arrive (or as JSON lines), a
spinner on a terminal between them, the fill, and the exit code."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.text import Text

from order_engine.client.output import console, duration, emit
from order_engine.client.progress import Progress, Terms

Event = dict[str, Any]


def follow_order(
    order_id: str, terms: Terms, events: Generator[Event | None], as_json: bool = False
) -> int:
    """Print each event until the terminal one: 0 if the order confirmed, 1 if it did not,
    130 if interrupted (the order goes on). The stream is closed in every case."""
    out = console()
    try:
        with contextlib.closing(events):
            last = _print_events(out, order_id, terms, events, as_json)
    except KeyboardInterrupt:
        print(
            f"order-engine: stopped following {order_id}; it goes on "
            f"(order-engine order {order_id})",
            file=sys.stderr,
        )
        return 130
    return 0 if last is not None and last["status"] == "confirmed" else 1


def _print_events(
    out: Console, order_id: str, terms: Terms, events: Iterable[Event | None], as_json: bool
) -> Event | None:
    """Every event printed; the last one (the terminal event)."""
    progress, last = Progress(terms), None
    if not as_json:
        emit(out, Text(f"order {order_id}", style="bold"))
    with _spinner(out, enabled=not as_json) as spinner:
        heard = time.monotonic()
        for event in events:
            if event is None:
                if spinner is not None and last is not None:
                    quiet = duration((time.monotonic() - heard) * 1000)
                    spinner.update(f"{last['status']} for {quiet}; Ctrl-C stops following")
                continue
            last, heard = event, time.monotonic()
            if as_json:
                print(json.dumps(event), flush=True)
                continue
            for line in progress.step(event):
                emit(out, line, soft_wrap=True)
    if last is not None and not as_json:
        for line in progress.outcome(last):
            emit(out, line, soft_wrap=True)
    return last


@contextlib.contextmanager
def _spinner(out: Console, enabled: bool) -> Iterator[Status | None]:
    """A transient spinner line under the steps, on a terminal only."""
    if not enabled or not out.is_terminal:
        yield None
        return
    with out.status("following the order; Ctrl-C stops following") as status:
        yield status
