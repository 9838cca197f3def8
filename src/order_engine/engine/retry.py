"""Retry policy: which errors are retried (by type) and how long to back off."""

from __future__ import annotations

from dataclasses import dataclass

from order_engine.domain.errors import TransientExecutionError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_factor: float = 2.0

    def delay_s(self, attempt: int) -> float:
        """Backoff after failed attempt `attempt` (1-based): base × factor^(attempt−1)."""
        return float(self.backoff_base_s * self.backoff_factor ** (attempt - 1))

    @staticmethod
    def is_retryable(error: BaseException) -> bool:
        return isinstance(error, TransientExecutionError)

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        return self.is_retryable(error) and attempt < self.max_attempts
