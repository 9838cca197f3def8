"""The feed of every order's events (`EventBus.subscribe_all`), as both buses deliver it:
ids `"<ms>-<n>"` (Redis Streams' own ids; the in-memory bus makes the same kind) and one
subscriber's inbox, which takes an entry only if its id is past the last one taken."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

from order_engine.adapters.inbox import Inbox
from order_engine.domain.orders import OrderEvent
from order_engine.engine.ports import FeedEntry

StreamId = tuple[int, int]
Entry = tuple[StreamId, OrderEvent | None]  # None: a malformed payload, skipped
T = TypeVar("T")
_FEED_ID = re.compile(r"([0-9]{1,15})-([0-9]{1,15})")


def format_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"


def parse_feed_id(text: str) -> StreamId:
    """`"<ms>-<n>"` as a pair of integers; ValueError when it is not one."""
    match = _FEED_ID.fullmatch(text)
    if match is None:
        raise ValueError(f"not a feed id: {text!r}")
    return int(match.group(1)), int(match.group(2))


class StreamInbox(Inbox[T]):
    """A subscriber's inbox of stream entries: takes an entry only if its id is past the
    last one taken (never twice, in order). While held, live entries wait until `release`
    has put the catch-up before them. Subclasses say what a taken entry yields (`_take`)."""

    __slots__ = ("_held", "_last_id")

    def __init__(self, after: StreamId) -> None:
        super().__init__()
        self._last_id = after
        self._held: list[Entry] | None = None

    def offer(self, entry: Entry) -> None:
        if self._held is not None:
            self._held.append(entry)
            return
        entry_id, event = entry
        if self._ended or entry_id <= self._last_id:
            return
        self._last_id = entry_id
        if event is not None:
            self._take(entry_id, event)

    def _take(self, entry_id: StreamId, event: OrderEvent) -> None:
        raise NotImplementedError

    def offer_all(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.offer(entry)

    def hold(self) -> None:
        self._held = []

    def release(self, catch_up: list[Entry]) -> None:
        held, self._held = self._held or [], None
        self.offer_all(catch_up)
        self.offer_all(held)


class FeedInbox(StreamInbox[FeedEntry]):
    """One feed subscriber: every entry past the last id it took, with its id."""

    __slots__ = ("_gap",)

    def __init__(self, after: StreamId, *, gap: bool = False) -> None:
        super().__init__(after)
        self._gap = gap

    @property
    def gap(self) -> bool:
        return self._gap

    def _take(self, entry_id: StreamId, event: OrderEvent) -> None:
        self.push(FeedEntry(format_id(entry_id), event))
