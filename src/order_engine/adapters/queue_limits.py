"""Rules every `JobQueue` implementation shares."""

from __future__ import annotations

import math


def full_queue_retry_after_s(rate_limit_max: int, rate_limit_window_s: float) -> int:
    """`Retry-After` for a full queue: how long until the rate limit starts one more job
    (one window / its limit), at least 1 s; 1 s when there is no limit."""
    if rate_limit_max <= 0 or rate_limit_window_s <= 0:
        return 1
    return max(1, math.ceil(rate_limit_window_s / rate_limit_max))
