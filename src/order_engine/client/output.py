"""The terminal the client writes to (rich), and how it writes numbers and times.

Colour only on a terminal and without `NO_COLOR` (rich's own rules); the text is the same
either way, so a pipe or a log reads like the screen. No markup and no emoji codes are
interpreted: engine messages are printed as sent."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table

PRICE_DIGITS = 10  # significant digits of a price for people (--json has them all)
PIPE_WIDTH = 240  # not a terminal (and no COLUMNS): lines are not wrapped below this

STATUS_STYLE = {
    "confirmed": "bold green",
    "failed": "bold red",
    "cancelled": "yellow",
    "expired": "yellow",
    "waiting": "cyan",
}


def console(stderr: bool = False) -> Console:
    out = Console(highlight=False, markup=False, emoji=False, stderr=stderr)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = PIPE_WIDTH
    return out


def emit(out: Console, renderable: RenderableType, soft_wrap: bool = False) -> None:
    """Print `renderable`; off a terminal, without the spaces rich pads lines with."""
    if out.is_terminal:
        out.print(renderable, soft_wrap=soft_wrap)
        return
    with out.capture() as captured:
        out.print(renderable, soft_wrap=soft_wrap)
    out.file.write("\n".join(line.rstrip() for line in captured.get().split("\n")))
    out.file.flush()


def table(*headers: str, title: str | None = None) -> Table:
    """Columns without vertical rules: a header, a rule under it, rows."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title)
    grid.title_justify = "left"
    for header in headers:
        grid.add_column(header, overflow="fold")
    return grid


def plain(value: object) -> str:
    """A decimal string without trailing zeros (`"152.496592000000"` → `152.496592`); "-"
    for none; anything else as given."""
    if value is None:
        return "-"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def price(value: object) -> str:
    """A price to `PRICE_DIGITS` significant digits (`149.710232666666` → `149.7102327`)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return plain(value)
    if value is None or not number.is_finite() or number == 0:
        return plain(value)
    exponent = number.adjusted() - (PRICE_DIGITS - 1)
    return plain(number.quantize(Decimal(1).scaleb(exponent)) if exponent < 0 else number)


def percent(fraction: object) -> str:
    """A fraction (`"0.00015029"`) as a percentage (`0.015%`)."""
    if fraction is None:
        return "-"
    try:
        value = Decimal(str(fraction)) * 100
    except InvalidOperation:
        return str(fraction)
    return f"{value:.3f}".rstrip("0").rstrip(".") + "%"


def duration(ms: float) -> str:
    """`7 ms`, `1.24 s`, `2 m 05 s`."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} m {seconds:02d} s"


def clock(iso: str | None) -> str:
    """An ISO time as `2026-12-03 19:54:19` in UTC; "-" for none."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def clock_ms(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
