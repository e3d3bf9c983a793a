"""When a failed job runs again, and what of its error is safe to keep in the jobs table."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from leap_connect.kit.problems import LeapConnectError

FIRST_RETRY = timedelta(seconds=15)
LONGEST_RETRY = timedelta(hours=1)
LAST_ERROR_LIMIT = 500

Backoff = Callable[[int], timedelta]
"""Given how many tries have failed so far, how long to wait before the next."""


def default_backoff(attempt: int) -> timedelta:
    """15 s, 30 s, 1 min, ... capped at an hour, each shortened by up to half at random.

    The jitter spreads out retries of jobs that failed together (say, a utility that was down)
    so they do not all come back in the same second.
    """
    doublings = min(max(attempt - 1, 0), 20)  # past 20 the cap applies anyway
    ceiling = min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - spreading load, not a secret


def next_run_at(
    *, attempts: int, max_attempts: int, now: datetime, backoff: Backoff
) -> datetime | None:
    """When to try again after `attempts` failed tries, or None when the job has no tries left."""
    if attempts >= max_attempts:
        return None
    return now + max(backoff(attempts), timedelta(0))


def describe_error(error: BaseException) -> str:
    """A short line for `jobs.last_error` that cannot carry a secret.

    Arbitrary exception messages can hold URLs with tokens or response bodies, so only messages
    written to be shown (our own expected errors) are kept; the full traceback is in the log.
    """
    name = type(error).__name__
    if isinstance(error, LeapConnectError):
        return f"{name}: {error.detail}"[:LAST_ERROR_LIMIT]
    return f"{name} (traceback in the worker log)"
