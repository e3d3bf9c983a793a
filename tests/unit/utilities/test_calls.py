"""How a utility's answer to a data request is read: 202 and 503 are "later", with its wait."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from leap_connect.utilities.calls import check_data_response, retry_after_seconds
from leap_connect.utilities.connector import ConnectorError

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        ("0", 1),
        ("86400", 3600),
        ("Fri, 04 Dec 2026 12:05:00 GMT", 300),
        ("Fri, 04 Dec 2026 11:00:00 GMT", 1),  # already past
        ("soon", None),
        ("", None),
        (None, None),
        ("١٢٠", None),  # digits, but not ASCII ones
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: int | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "code", "retry_after"),
    [(202, "data_not_ready", 90), (503, "utility_down", 90), (429, "utility_down", 90)],
)
def test_202_and_503_mean_try_again_later(status: int, code: str, retry_after: int) -> None:
    response = httpx.Response(status, headers={"Retry-After": "90"})
    with pytest.raises(ConnectorError) as later:
        check_data_response("PG&E", response)
    assert (later.value.code, later.value.retryable, later.value.retry_after) == (
        code,
        True,
        retry_after,
    )


def test_a_refusal_is_final() -> None:
    with pytest.raises(ConnectorError) as refused:
        check_data_response("PG&E", httpx.Response(404))
    assert (refused.value.code, refused.value.retryable) == ("data_request_failed", False)
