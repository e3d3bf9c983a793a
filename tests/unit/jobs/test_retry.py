"""Retry timing and error summaries: pure functions, checked without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leap_connect.jobs.retry import (
    LONGEST_RETRY,
    default_backoff,
    describe_error,
    next_run_at,
)
from leap_connect.kit.problems import NotFound

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_default_backoff_doubles_from_fifteen_seconds_with_jitter() -> None:
    for attempt, ceiling in ((1, 15), (2, 30), (3, 60), (4, 120)):
        delay = default_backoff(attempt).total_seconds()
        assert ceiling / 2 <= delay <= ceiling


@given(st.integers(min_value=1, max_value=10_000))
def test_default_backoff_is_never_longer_than_an_hour_nor_shorter_than_half_the_step(
    attempt: int,
) -> None:
    delay = default_backoff(attempt)
    assert timedelta(seconds=7.5) <= delay <= LONGEST_RETRY


def test_a_job_with_tries_left_runs_again_after_its_backoff() -> None:
    run_at = next_run_at(
        attempts=2, max_attempts=3, now=NOW, backoff=lambda attempt: timedelta(minutes=attempt)
    )
    assert run_at == NOW + timedelta(minutes=2)


def test_a_job_without_tries_left_does_not_run_again() -> None:
    assert next_run_at(attempts=3, max_attempts=3, now=NOW, backoff=default_backoff) is None


def test_a_negative_backoff_means_now() -> None:
    run_at = next_run_at(
        attempts=1, max_attempts=3, now=NOW, backoff=lambda _: timedelta(seconds=-5)
    )
    assert run_at == NOW


def test_an_unexpected_error_is_summarized_without_its_message() -> None:
    error = RuntimeError("GET https://utility.example/usage?access_token=s3cret failed")
    summary = describe_error(error)
    assert summary.startswith("RuntimeError")
    assert "s3cret" not in summary


def test_an_expected_error_keeps_its_message_because_it_is_written_to_be_shown() -> None:
    assert describe_error(NotFound("the meter was deleted")) == "NotFound: the meter was deleted"
