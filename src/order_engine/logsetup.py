"""Logging for every command: readable text by default, `LOG_FORMAT=json` for machines
(one JSON object per line: `ts`, `level`, `logger`, `message`, the record's `fields` and,
for an error with a traceback, `exc` on the same line).

A log call that has structured details passes them as `extra={"fields": {...}}`: text
output shows only the message, JSON output adds the fields as keys."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("httpx", "httpcore")  # a line per RPC call otherwise


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            body.update(fields)
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            body["exc"] = record.exc_text
        return orjson.dumps(body, default=str).decode()


def configure_logging(level: str, fmt: str, *, stream: IO[str] | None = None) -> None:
    """The root logger at `level` ("info", …) writing `fmt` ("text" or "json") to `stream`
    (default stderr), replacing any handler set before."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
