"""Configuration from `LEAP_CONNECT_*` variables; production refuses development secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from leap_connect.kit.crypto import generate_encryption_key
from leap_connect.settings import DEVELOPMENT_ENCRYPTION_KEY, Settings

REAL_SECRET_KEY = "a-secret-key-of-our-own-with-enough-entropy-7f3a9c"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the variables a test sets are seen, and the default data folder is a fresh one."""
    for name in list(os.environ):
        if name.upper().startswith("LEAP_CONNECT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production with real values; a test then spoils one of them."""
    monkeypatch.setenv("LEAP_CONNECT_ENV", "production")
    monkeypatch.setenv("LEAP_CONNECT_SECRET_KEY", REAL_SECRET_KEY)
    monkeypatch.setenv("LEAP_CONNECT_ENCRYPTION_KEYS", generate_encryption_key())
    monkeypatch.setenv("LEAP_CONNECT_BASE_URL", "https://connect.example.com")


def test_leap_connect_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEAP_CONNECT_DATABASE_URL", "postgresql+asyncpg://leap@db/leap")
    monkeypatch.setenv("LEAP_CONNECT_BASE_URL", "http://localhost:9000/")
    monkeypatch.setenv("LEAP_CONNECT_SECRET_KEY", REAL_SECRET_KEY)
    monkeypatch.setenv("LEAP_CONNECT_SANDBOX", "true")
    monkeypatch.setenv("LEAP_CONNECT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEAP_CONNECT_HTTP_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("LEAP_CONNECT_LOG_LEVEL", "DEBUG")

    settings = Settings()

    assert settings.resolved_database_url == "postgresql+asyncpg://leap@db/leap"
    assert settings.base_url == "http://localhost:9000"
    assert settings.secret_key.get_secret_value() == REAL_SECRET_KEY
    assert settings.sandbox is True
    assert settings.data_dir == tmp_path / "data"
    assert settings.http_timeout_seconds == 2.5
    assert settings.log_level == "DEBUG"
    assert settings.is_development


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", REAL_SECRET_KEY)
    monkeypatch.setenv("SANDBOX", "true")

    settings = Settings()

    assert settings.secret_key.get_secret_value() != REAL_SECRET_KEY
    assert settings.sandbox is False


def test_nested_utility_variables_configure_that_utility(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAP_CONNECT_UTILITIES__PGE__CLIENT_ID", "pge-client")
    monkeypatch.setenv("LEAP_CONNECT_UTILITIES__PGE__CLIENT_SECRET", "pge-secret")
    monkeypatch.setenv(
        "LEAP_CONNECT_UTILITIES__PGE__AUTHORIZE_URL", "https://sharemydata.pge.com/authorize"
    )
    monkeypatch.setenv("LEAP_CONNECT_UTILITIES__SCE__TOKEN_URL", "https://sce.example/token")

    settings = Settings()

    pge = settings.utility("pge")
    assert pge.client_id == "pge-client"
    assert pge.client_secret is not None
    assert pge.client_secret.get_secret_value() == "pge-secret"
    assert pge.authorize_url == "https://sharemydata.pge.com/authorize"
    assert settings.utility("sce").token_url == "https://sce.example/token"
    assert settings.utility("sce").client_id is None


def test_utilityapi_variables_name_the_hyphenated_utility_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEAP_CONNECT_UTILITIES__CECONY_UTILITYAPI__API_TOKEN", "uapi-token")
    monkeypatch.setenv(
        "LEAP_CONNECT_UTILITIES__CECONY_UTILITYAPI__FORM_URL", "https://utilityapi.com/authorize/x"
    )

    settings = Settings()

    cecony = settings.utility("cecony-utilityapi")
    assert cecony.api_token is not None
    assert cecony.api_token.get_secret_value() == "uapi-token"
    assert cecony.form_url == "https://utilityapi.com/authorize/x"


def test_a_utility_without_variables_has_empty_settings() -> None:
    settings = Settings()

    assert settings.utility("sdge").authorize_url is None
    assert settings.utility("sdge").client_id is None


def test_secrets_are_not_shown_when_settings_are_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAP_CONNECT_SECRET_KEY", REAL_SECRET_KEY)
    monkeypatch.setenv("LEAP_CONNECT_UTILITIES__PGE__CLIENT_SECRET", "pge-secret")

    shown = repr(Settings())

    assert REAL_SECRET_KEY not in shown
    assert "pge-secret" not in shown


def test_the_default_database_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings()

    expected = tmp_path.resolve() / ".leap-connect" / "leap-connect.db"
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"


def test_the_default_database_follows_the_data_folder_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEAP_CONNECT_DATA_DIR", str(tmp_path / "elsewhere"))

    settings = Settings()

    expected = tmp_path.resolve() / "elsewhere" / "leap-connect.db"
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"


def test_development_runs_with_the_built_in_defaults() -> None:
    settings = Settings()

    assert settings.env == "development"
    assert settings.is_development


@pytest.mark.usefixtures("production")
def test_production_with_real_values_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    rotated = f"{generate_encryption_key()},{generate_encryption_key()}"
    monkeypatch.setenv("LEAP_CONNECT_ENCRYPTION_KEYS", rotated)

    settings = Settings()

    assert settings.env == "production"
    assert not settings.is_development
    assert settings.encryption_keys.get_secret_value() == rotated


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "LEAP_CONNECT_SECRET_KEY",
            None,
            "LEAP_CONNECT_SECRET_KEY must be set to a secret of your own in production",
        ),
        (
            "LEAP_CONNECT_SECRET_KEY",
            "",
            "LEAP_CONNECT_SECRET_KEY must be set to a secret of your own in production",
        ),
        (
            "LEAP_CONNECT_ENCRYPTION_KEYS",
            None,
            "LEAP_CONNECT_ENCRYPTION_KEYS must be set to keys of your own in production",
        ),
        (
            "LEAP_CONNECT_ENCRYPTION_KEYS",
            f"{generate_encryption_key()},{DEVELOPMENT_ENCRYPTION_KEY}",
            "LEAP_CONNECT_ENCRYPTION_KEYS must be set to keys of your own in production",
        ),
        (
            "LEAP_CONNECT_BASE_URL",
            None,
            "LEAP_CONNECT_BASE_URL must be an https:// URL in production",
        ),
        (
            "LEAP_CONNECT_BASE_URL",
            "http://connect.example.com",
            "LEAP_CONNECT_BASE_URL must be an https:// URL in production",
        ),
        (
            "LEAP_CONNECT_SANDBOX",
            "true",
            "LEAP_CONNECT_SANDBOX must be false in production",
        ),
    ],
    ids=[
        "default secret key",
        "empty secret key",
        "default encryption key",
        "default encryption key among rotated keys",
        "default base URL",
        "http base URL",
        "sandbox on",
    ],
)
def test_production_refuses_development_values_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None, message: str
) -> None:
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as raised:
        Settings()

    assert message in str(raised.value)


@pytest.mark.parametrize("env", ["development", "production"])
@pytest.mark.parametrize(
    "keys",
    ["not-a-key", "", f"{DEVELOPMENT_ENCRYPTION_KEY[:-4]}", "{key},short"],
    ids=["not base64", "empty", "too short", "second key bad"],
)
def test_encryption_keys_that_cannot_encrypt_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, keys: str
) -> None:
    monkeypatch.setenv("LEAP_CONNECT_ENV", env)
    monkeypatch.setenv("LEAP_CONNECT_SECRET_KEY", REAL_SECRET_KEY)
    monkeypatch.setenv("LEAP_CONNECT_BASE_URL", "https://connect.example.com")
    monkeypatch.setenv("LEAP_CONNECT_ENCRYPTION_KEYS", keys.format(key=generate_encryption_key()))

    with pytest.raises(ValidationError) as raised:
        Settings()

    assert "LEAP_CONNECT_ENCRYPTION_KEYS" in str(raised.value)
