"""What every response carries, and how health, metrics and errors look from outside."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from leap_connect.app import create_app, runtime_of_app
from leap_connect.kit.crypto import generate_encryption_key
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from tests.functional.api.conftest import api_partner

GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
PROBLEM_JSON = "application/problem+json"
UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/nope"


async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await runtime_of_app(app).close()


@pytest.fixture
async def unreachable_database_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=UNREACHABLE_DATABASE, data_dir=tmp_path))
    async for http in client_for(app):
        yield http


METRICS_TOKEN = "a-metrics-token-of-our-own-0123456789"


def production_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    return Settings(
        env="production",
        database_url=database_url,
        data_dir=tmp_path,
        base_url="https://connect.example.com",
        secret_key="a-production-secret-of-our-own-0123456789",
        encryption_keys=generate_encryption_key(),
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
async def production_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_for(create_app(production_settings(database_url, tmp_path))):
        yield http


@pytest.fixture
async def production_client_with_metrics_token(
    database_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = production_settings(database_url, tmp_path, metrics_token=METRICS_TOKEN)
    async for http in client_for(create_app(settings)):
        yield http


@pytest.fixture
async def client_with_metrics_token(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)}))
    async for http in client_for(app):
        yield http


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    directives = [part.split() for part in policy.split(";") if part.strip()]
    return {name: values for name, *values in directives}


# --- health and metrics ---------------------------------------------------------------------------


async def test_healthz_answers_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_200_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_readyz_answers_503_with_retry_after_when_the_database_is_unreachable(
    unreachable_database_client: httpx.AsyncClient,
) -> None:
    response = await unreachable_database_client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["status"] == "unavailable"


async def test_healthz_answers_200_even_when_the_database_is_unreachable(
    unreachable_database_client: httpx.AsyncClient,
) -> None:
    response = await unreachable_database_client.get("/healthz")

    assert response.status_code == 200


async def test_metrics_count_requests_by_route_template(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.get("/test-only/things/{thing_id}/detail")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing_id": thing_id}

    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/test-only/things/1/detail")
    await client.get("/test-only/things/2/detail")
    await client.get("/no/such/page")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    metrics = response.text
    assert 'leap_connect_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in (
        metrics
    )
    assert (
        'leap_connect_http_requests_total{method="GET",'
        'route="/test-only/things/{thing_id}/detail",status="200"} 2.0'
    ) in metrics
    assert "/test-only/things/1" not in metrics
    assert "/no/such/page" not in metrics
    assert 'status="404"' in metrics
    assert "leap_connect_http_request_duration_seconds_bucket" in metrics


@pytest.mark.parametrize(
    "authorization", [None, "Bearer not-the-token", f"Basic {METRICS_TOKEN}", METRICS_TOKEN]
)
async def test_metrics_need_the_bearer_token_once_one_is_set(
    client_with_metrics_token: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    refused = await client_with_metrics_token.get("/metrics", headers=headers)
    scraped = await client_with_metrics_token.get(
        "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )

    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "leap_connect_http_requests_total" not in refused.text
    assert scraped.status_code == 200
    assert "leap_connect_http_requests_total" in scraped.text


async def test_production_hides_metrics_when_no_token_is_set(
    production_client: httpx.AsyncClient,
) -> None:
    response = await production_client.get("/metrics", headers={"Authorization": "Bearer anything"})

    assert response.status_code == 404
    assert "leap_connect_http_requests_total" not in response.text


async def test_production_serves_metrics_to_the_bearer_of_the_token(
    production_client_with_metrics_token: httpx.AsyncClient,
) -> None:
    client = production_client_with_metrics_token
    refused = await client.get("/metrics")
    scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert refused.status_code == 401
    assert scraped.status_code == 200
    assert "leap_connect_http_requests_total" in scraped.text


# --- request IDs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/static/connect.css"),
        ("GET", "/no/such/page"),
        ("GET", "/v2/no-such-thing/at-all"),
        ("POST", "/openapi.json"),
    ],
)
async def test_every_response_has_a_request_id(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)

    assert GENERATED_REQUEST_ID.match(response.headers["x-request-id"])


async def test_each_request_gets_its_own_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("incoming", ["req-42.abc_DEF", "0f1e2d3c4b5a", "a" * 128])
async def test_a_sane_incoming_request_id_is_echoed(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": incoming})

    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [b"a\r\nb", b"a" * 500, b"<script>alert(1)</script>", b"has space", b'{"json":1}', b"caf\xe9"],
    ids=["CRLF", "500 characters", "markup", "space", "json", "latin-1"],
)
async def test_a_malicious_incoming_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: bytes
) -> None:
    response = await client.get("/healthz", headers={b"X-Request-ID": incoming})

    assert GENERATED_REQUEST_ID.match(response.headers["x-request-id"])


# --- security headers -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/no/such/page", "/static/connect.css"])
async def test_every_response_has_a_strict_content_security_policy(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    directives = csp_directives(response)
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "'unsafe-eval'" not in response.headers["content-security-policy"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_there_is_no_hsts_in_development(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert "strict-transport-security" not in response.headers


async def test_production_responses_carry_hsts_of_at_least_a_year(
    production_client: httpx.AsyncClient,
) -> None:
    response = await production_client.get("/healthz")

    hsts = response.headers["strict-transport-security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))  # type: ignore[union-attr]
    assert max_age >= 365 * 24 * 60 * 60
    assert csp_directives(response)["frame-ancestors"] == ["'none'"]


async def test_production_forms_post_only_to_https(production_client: httpx.AsyncClient) -> None:
    response = await production_client.get("/healthz")

    assert csp_directives(response)["form-action"] == ["'self'", "https:"]


async def test_development_forms_may_post_to_a_plain_http_sandbox(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/healthz")

    assert csp_directives(response)["form-action"] == ["'self'", "https:", "http:"]


# --- caching --------------------------------------------------------------------------------------


async def test_no_api_answer_is_kept_by_a_cache(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    acme = await api_partner(runtime, "acme")

    answers = [
        await client.get("/v2/connect/flows", headers=acme.headers),
        await client.get("/v2/connect/flows"),
        await client.get("/v2/no-such-thing/at-all"),
        await client.post("/v2/meters/search", json={"nope": 1}, headers=acme.headers),
    ]

    assert [answer.status_code for answer in answers] == [200, 401, 404, 422]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store"


async def test_the_openapi_description_may_be_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")


# --- errors ---------------------------------------------------------------------------------------


API_NOT_FOUND = "There is no API operation at this path. The operations are listed at /docs."


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/nope"),
        ("GET", "/v2/nope/"),
        ("POST", "/v2/nope"),
        ("GET", "/v2/meters"),
        ("GET", "/v2/connect"),
        ("GET", "/v2/no-such-thing/at-all"),
        ("GET", "/v2"),
    ],
)
async def test_an_unknown_api_path_is_a_404_problem(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == 404
    assert problem["title"] == "Not found"
    assert problem["type"].startswith("https://")
    assert problem["detail"] == API_NOT_FOUND


async def test_a_wrong_method_on_a_short_api_path_is_still_a_405(
    client: httpx.AsyncClient,
) -> None:
    response = await client.delete("/v2/webhooks")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_a_wrong_method_on_an_api_path_is_a_405_problem(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/openapi.json")

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == 405
    assert problem["title"] == "Method not allowed"
    assert problem["type"].startswith("https://")
    assert problem["detail"]
    assert "GET" in response.headers["allow"]


async def test_an_unknown_page_is_a_friendly_404_html_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "We could not find this page. Please check the link you were given." in response.text
    assert response.text.lstrip().lower().startswith("<!doctype html>")
    assert f"Reference for support: {response.headers['x-request-id']}" in response.text


async def test_an_unknown_page_does_not_reflect_markup_from_its_path(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/no/such/<script>alert(1)</script>")

    assert response.status_code == 404
    assert "<script>alert(1)" not in response.text


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/test-only/explodes/now", "text/html"), ("/v2/test-only/explodes", PROBLEM_JSON)],
)
async def test_an_unexpected_error_is_a_500_that_still_carries_request_id_and_headers(
    app: FastAPI, client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    @app.get(path)
    async def explode() -> None:
        raise RuntimeError("secret internals")

    response = await client.get(path)

    assert response.status_code == 500
    assert response.headers["content-type"].startswith(content_type)
    assert "secret internals" not in response.text
    assert GENERATED_REQUEST_ID.match(response.headers["x-request-id"])
    assert csp_directives(response)["frame-ancestors"] == ["'none'"]
    assert response.headers["x-content-type-options"] == "nosniff"
