"""How a connector calls a utility: one time-out, one reading of failures, one size limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

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
    """A 5xx or 429 is the utility being down; any other non-200 is a refusal."""
    if response.status_code >= 500 or response.status_code == 429:
        raise ConnectorError(
            "utility_down", f"{utility_name} answered {response.status_code}.", retryable=True
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
