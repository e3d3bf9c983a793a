"""How a connector calls a utility: one time-out, one reading of failures, one size limit."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from leap_connect.kit.http import HttpClientFactory
from leap_connect.utilities.connector import ConnectorError


@asynccontextmanager
async def utility_call(utility_name: str, seconds: float) -> AsyncIterator[None]:
    """Network failures and time-outs become `utility_down`, which the customer may retry."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except (TimeoutError, httpx.TimeoutException):
        raise ConnectorError(
            "utility_down", f"{utility_name} did not answer in time.", retryable=True
        ) from None
    except httpx.HTTPError as error:
        raise ConnectorError(
            "utility_down",
            f"{utility_name} could not be reached ({type(error).__name__}).",
            retryable=True,
        ) from None


def check_data_response(utility_name: str, response: httpx.Response) -> None:
    """A 5xx or 429 is the utility being down, a 202 the data being prepared: both are "try
    again later" (after its `Retry-After`, when it sends one); a 401 or 403 refuses the token
    (`access_refused`: a customer's token may have been revoked); any other non-200 is a refusal."""
    if response.status_code == 202:
        raise ConnectorError(
            "data_not_ready",
            f"{utility_name} is still preparing this data.",
            retryable=True,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if response.status_code >= 500 or response.status_code == 429:
        raise ConnectorError(
            "utility_down",
            f"{utility_name} answered {response.status_code}.",
            retryable=True,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if response.status_code in (401, 403):
        raise ConnectorError(
            "access_refused",
            f"{utility_name} refused the access token ({response.status_code}).",
        )
    if response.status_code != 200:
        raise ConnectorError(
            "data_request_failed",
            f"{utility_name} refused the request ({response.status_code}).",
        )


async def get_limited(
    http: HttpClientFactory,
    client: httpx.AsyncClient,
    url: str,
    *,
    utility_name: str,
    limit: int,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """GET a data document, refusing one larger than `limit` bytes before it is all in memory."""
    async with (
        utility_call(utility_name, http.timeout),
        client.stream("GET", url, params=params, headers=headers) as response,
    ):
        check_data_response(utility_name, response)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ConnectorError(
                    "invalid_response",
                    f"{utility_name}'s answer is larger than {limit // 1_048_576} MB.",
                )
            chunks.append(chunk)
        return b"".join(chunks)


MAX_RETRY_AFTER_SECONDS = 3600


def retry_after_seconds(value: str | None, now: datetime | None = None) -> int | None:
    """A `Retry-After` header (RFC 9110: seconds, or an HTTP date) as seconds from now, between 1
    and an hour; None when there is none or it cannot be read."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = int(text[:6])
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = math.ceil((when - (now or datetime.now(UTC))).total_seconds())
    return min(max(seconds, 1), MAX_RETRY_AFTER_SECONDS)
