"""The Green Button connector's other calls against the sandbox: refresh, revoke, intervals."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from leap_connect.models import utc_now
from leap_connect.runtime import Runtime
from leap_connect.utilities.connector import (
    AuthorizationResult,
    AuthorizationStart,
    ConnectorError,
    Grant,
)
from leap_connect.utilities.green_button import GreenButtonConnector

REDIRECT_URI = "http://testserver/connect/callback/pge"


@pytest.fixture
def connector(app: FastAPI, runtime: Runtime) -> GreenButtonConnector:
    runtime.http.transport = httpx.ASGITransport(app=app)
    connector = runtime.connectors["pge"]
    assert isinstance(connector, GreenButtonConnector)
    return connector


async def authorize(
    app: FastAPI, connector: GreenButtonConnector, username: str
) -> AuthorizationResult:
    start = AuthorizationStart(state="s" * 43, code_verifier="v" * 64, redirect_uri=REDIRECT_URI)
    url = connector.authorization_url(start)
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    # PG&E's profile: no PKCE, guest sign-in allowed.
    assert "code_challenge" not in query and query["login"] == "guest"
    assert query["state"] == start.state
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as customer:
        answer = await customer.post(
            urlsplit(url).path,
            data={**query, "username": username, "password": "sandbox", "decision": "approve"},
        )
    assert answer.status_code == 303, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    return await connector.complete(start, {"code": code, "state": start.state})


async def test_refresh_gives_a_new_access_token_that_reads_data(
    app: FastAPI, connector: GreenButtonConnector
) -> None:
    result = await authorize(app, connector, "residential")
    assert result.tokens is not None
    refreshed = await connector.refresh(result.tokens)
    assert refreshed.access_token != result.tokens.access_token
    assert refreshed.expires_at and refreshed.expires_at > utc_now()
    meter = result.meters[0]
    assert meter.usage_point_uri
    end = utc_now().replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    intervals = await connector.fetch_usage(
        refreshed, meter.usage_point_uri, end - timedelta(days=1), end
    )
    assert len(intervals) == 24
    assert all(
        (interval.duration_seconds, interval.direction, interval.unit) == (3600, "delivered", "kWh")
        and interval.value > 0
        for interval in intervals
    )
    assert intervals == sorted(intervals, key=lambda interval: interval.start)


async def test_revoked_tokens_no_longer_read_data(
    app: FastAPI, connector: GreenButtonConnector
) -> None:
    result = await authorize(app, connector, "residential")
    assert result.tokens is not None
    await connector.revoke(Grant(result.utility_authorization_ref, result.tokens))
    end = utc_now() - timedelta(days=2)
    with pytest.raises(ConnectorError) as refused:
        await connector.fetch_usage(
            result.tokens, result.meters[0].usage_point_uri or "", end - timedelta(days=1), end
        )
    assert refused.value.code == "access_refused"
    with pytest.raises(ConnectorError):
        await connector.refresh(result.tokens)
