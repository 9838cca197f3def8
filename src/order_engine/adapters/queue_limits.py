"""Rules every `JobQueue` implementation shares."""

from __future__ import annotations

import math


def full_queue_retry_after_s(rate_limit_max: int, rate_limit_window_s: float) -> int:
    """`Retry-After` for a full queue: how long until the rate limit starts one more job
    (one window / its limit), at least 1 s; 1 s when there is no limit."""
    if rate_limit_max <= 0 or rate_limit_window_s <= 0:
        return 1
    return max(1, math.ceil(rate_limit_window_s / rate_limit_max))


def checked_delay_s(delay_s: float) -> float:
    """A job delay (an enqueue's or a handler's reschedule) in seconds; raises `ValueError`
    unless it is finite and not negative."""
    delay = float(delay_s)
    if not math.isfinite(delay) or delay < 0:
        raise ValueError(f"a job delay must be a finite number of seconds >= 0, not {delay_s!r}")
    return delay
