"""Retry policy: backoff delays and retry-by-type."""

from __future__ import annotations

import pytest

from order_engine.domain.errors import (
    ExecutionError,
    NoQuotesError,
    NoRouteError,
    PermanentExecutionError,
    SlippageExceededError,
    TransientExecutionError,
    VenueUnavailableError,
)
from order_engine.engine.retry import RetryPolicy


def test_default_backoff_is_1_2_4_seconds() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert [policy.delay_s(attempt) for attempt in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_backoff_follows_base_and_factor() -> None:
    policy = RetryPolicy(backoff_base_s=0.02, backoff_factor=3.0)
    assert policy.delay_s(1) == pytest.approx(0.02)
    assert policy.delay_s(2) == pytest.approx(0.06)
    assert policy.delay_s(3) == pytest.approx(0.18)


@pytest.mark.parametrize(
    "error",
    [
        TransientExecutionError("x"),
        VenueUnavailableError("x"),
        NoQuotesError("x"),
        SlippageExceededError("x"),
    ],
)
def test_transient_errors_are_retryable(error: Exception) -> None:
    assert RetryPolicy.is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        PermanentExecutionError("x"),
        NoRouteError("x"),
        ExecutionError("x"),
        Exception("venue unavailable"),
        RuntimeError("transient"),
    ],
)
def test_other_errors_are_not_retryable(error: Exception) -> None:
    assert not RetryPolicy.is_retryable(error)


def test_should_retry_until_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)
    error = VenueUnavailableError("down")
    assert policy.should_retry(error, attempt=1)
    assert policy.should_retry(error, attempt=2)
    assert not policy.should_retry(error, attempt=3)
    assert not policy.should_retry(error, attempt=4)


def test_should_retry_never_retries_a_permanent_error() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert not policy.should_retry(NoRouteError("no route"), attempt=1)


def test_a_single_attempt_policy_never_retries() -> None:
    policy = RetryPolicy(max_attempts=1)
    assert not policy.should_retry(VenueUnavailableError("down"), attempt=1)
