"""Per-utility request profiles: the published defaults, and configuration that changes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from leap_connect.kit.http import HttpClientFactory
from leap_connect.settings import Settings
from leap_connect.utilities.connector import AuthorizationStart
from leap_connect.utilities.connectors import (
    UtilityMisconfigured,
    build_connectors,
    green_button_endpoints,
)
from leap_connect.utilities.green_button import GreenButtonConnector
from leap_connect.utilities.profiles import (
    DEFAULT_ESPI_SCOPE,
    PGE,
    Revocation,
    ScopeFormat,
    TokenAuth,
    request_profile,
)
from leap_connect.utilities.registry import UTILITIES_BY_ID

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
PGE_VARIABLES = {
    "LEAP_CONNECT_UTILITIES__PGE__AUTHORIZE_URL": "https://pge.example/authorize",
    "LEAP_CONNECT_UTILITIES__PGE__TOKEN_URL": "https://pge.example/token",
    "LEAP_CONNECT_UTILITIES__PGE__CLIENT_ID": "client-32",
    "LEAP_CONNECT_UTILITIES__PGE__CLIENT_SECRET": "secret",
}


def settings_from(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> Settings:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_pge_asks_for_end_dates_only_and_espi_utilities_for_function_blocks() -> None:
    wished = NOW + timedelta(days=365)
    assert PGE.scope(now=NOW, wished_end=wished) == (
        f"MinAuthEndDate={int((NOW + timedelta(days=30)).timestamp())};"
        f"PreferredAuthEndDate={int(wished.timestamp())}"
    )
    # A wish shorter than the minimum is the minimum too: PG&E refuses a minimum past the end.
    short = NOW + timedelta(days=7)
    assert PGE.scope(now=NOW, wished_end=short) == (
        f"MinAuthEndDate={int(short.timestamp())};PreferredAuthEndDate={int(short.timestamp())}"
    )
    assert request_profile("sce", Settings().utility("sce")).scope(now=NOW, wished_end=wished) == (
        DEFAULT_ESPI_SCOPE
    )


def test_every_field_of_a_profile_can_be_set_by_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = "LEAP_CONNECT_UTILITIES__PGE__"
    settings = settings_from(
        monkeypatch,
        {
            f"{prefix}SCOPE_FORMAT": "espi",
            f"{prefix}SCOPE": "FB=4_51",
            f"{prefix}PKCE": "true",
            f"{prefix}AUTHORIZATION_PARAMETERS": "login=guest&prompt=consent",
            f"{prefix}TOKEN_AUTH": "client_secret_post",
            f"{prefix}MUTUAL_TLS": "false",
            f"{prefix}REVOCATION": "token",
            f"{prefix}ENDS_PREVIOUS_GRANT": "false",
        },
    )
    profile = request_profile("pge", settings.utility("pge"))
    assert profile.scope_format is ScopeFormat.ESPI and profile.espi_scope == "FB=4_51"
    assert profile.pkce and not profile.mutual_tls and not profile.ends_previous_grant
    assert profile.authorization_parameters == (("login", "guest"), ("prompt", "consent"))
    assert profile.token_auth is TokenAuth.CLIENT_SECRET_POST
    assert profile.revocation is Revocation.TOKEN


def test_a_configured_pge_sends_exactly_share_my_data_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(monkeypatch, PGE_VARIABLES)
    connector = build_connectors(settings, HttpClientFactory(timeout=5))["pge"]
    assert isinstance(connector, GreenButtonConnector)
    url = connector.authorization_url(
        AuthorizationStart(
            state="s" * 43,
            code_verifier="v" * 64,
            redirect_uri="https://leap.example/connect/callback/pge",
            wished_end=datetime.now(UTC) + timedelta(days=180),
        )
    )
    query = parse_qs(urlsplit(url).query)
    assert sorted(query) == [
        "client_id",
        "login",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
    ]
    assert query["scope"][0].startswith("MinAuthEndDate=")


def test_a_bad_parameter_list_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(
        monkeypatch,
        {**PGE_VARIABLES, "LEAP_CONNECT_UTILITIES__PGE__AUTHORIZATION_PARAMETERS": "login"},
    )
    with pytest.raises(UtilityMisconfigured, match="'login' is not name=value"):
        green_button_endpoints(settings, UTILITIES_BY_ID["pge"])


def test_production_refuses_pge_without_its_client_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_from(
        monkeypatch,
        {
            **PGE_VARIABLES,
            "LEAP_CONNECT_ENV": "production",
            "LEAP_CONNECT_SECRET_KEY": "a-real-secret-key-of-our-own",
            "LEAP_CONNECT_ENCRYPTION_KEYS": "ZmFrZS1idXQtdmFsaWQta2V5LWZvci10ZXN0aW5nLTE=",
            "LEAP_CONNECT_BASE_URL": "https://leap.example",
        },
    )
    with pytest.raises(UtilityMisconfigured, match=r"mutual TLS.*CLIENT_CERT"):
        green_button_endpoints(settings, UTILITIES_BY_ID["pge"])
