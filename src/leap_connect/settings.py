"""Configuration from `LEAP_CONNECT_*` environment variables, with safe defaults for development."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from cryptography.fernet import Fernet
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "development-secret-key-do-not-use-in-production"  # noqa: S105
# A Fernet key (32 url-safe base64 bytes); only good enough for a laptop.
DEVELOPMENT_ENCRYPTION_KEY = "bGVhcC1jb25uZWN0LWRldmVsb3BtZW50LW9ubHktMzI="


class UtilitySettings(BaseModel):
    """Where one utility's endpoints are and how we authenticate to them.

    Green Button utilities use the OAuth fields; UtilityAPI utilities use the form and API fields.
    A field left empty falls back to the built-in sandbox when sandbox mode is on.
    """

    authorize_url: str | None = None
    token_url: str | None = None
    revoke_url: str | None = None
    resource_base_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_bundle: Path | None = None
    scope: str | None = None
    # The request profile (utilities/profiles.py): unset fields keep the utility's published
    # defaults. `authorization_parameters` is `name=value&name=value`.
    scope_format: Literal["espi", "auth_end_dates", "none"] | None = None
    pkce: bool | None = None
    authorization_parameters: str | None = None
    token_auth: Literal["client_secret_basic", "client_secret_post"] | None = None
    mutual_tls: bool | None = None
    revocation: Literal["espi_authorization", "token"] | None = None
    ends_previous_grant: bool | None = None
    form_url: str | None = None
    api_base_url: str | None = None
    api_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None


class DatabasePoolSettings(BaseModel):
    """How many PostgreSQL connections each process keeps, and how long a request waits for one.

    A request holds a connection from its first query to its commit, so the pool bounds how many
    requests a process runs against the database at once; the rest wait their turn, in order.
    """

    size: int = Field(default=10, ge=1)
    # Opened beyond `size` at a peak, and closed again once idle.
    max_overflow: int = Field(default=10, ge=0)
    # A request still waiting after this long is answered 503 with Retry-After: an overloaded
    # process tells the customer to try again rather than keep them waiting longer.
    timeout_seconds: float = Field(default=30.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEAP_CONNECT_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".leap-connect")
    database_url: str | None = None
    database_pool: DatabasePoolSettings = Field(default_factory=DatabasePoolSettings)
    # Requests one process works on at once; more wait their turn (kit/admission.py).
    max_concurrent_requests: int = Field(default=32, ge=1)
    # A request's body is read whole before it waits for a slot, within these times, or it is
    # answered 408 (kit/body_limit.py): the whole body, and the longest pause between two parts.
    request_body_timeout_seconds: float = Field(default=60.0, gt=0)
    request_body_idle_timeout_seconds: float = Field(default=15.0, gt=0)
    # `serve` closes a connection whose request line and headers take longer (cli/http_protocol.py).
    request_header_timeout_seconds: float = Field(default=10.0, gt=0)
    # When set, /metrics answers only `Authorization: Bearer <token>`; unset, production hides it.
    metrics_token: SecretStr | None = None
    # Addresses or networks (comma-separated) of the proxies whose X-Forwarded-For and
    # X-Forwarded-Proto `serve` believes; empty: none, the client is the socket's peer.
    forwarded_allow_ips: str = ""
    # `redis://…` shared by every process: revoked API keys are announced through it, and it is
    # the rate limits' store unless LEAP_CONNECT_RATE_LIMIT_STORAGE_URI names another.
    redis_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    encryption_keys: SecretStr = SecretStr(DEVELOPMENT_ENCRYPTION_KEY)
    sandbox: bool = False
    # How long the sandbox UtilityAPI takes to list an authorization's meters, as UtilityAPI does.
    sandbox_utilityapi_meters_delay_seconds: float = Field(default=5.0, ge=0, le=86400)
    # How long its historical collection of a meter takes once asked for.
    sandbox_utilityapi_collection_delay_seconds: float = Field(default=10.0, ge=0, le=86400)
    utilities: dict[str, UtilitySettings] = Field(default_factory=dict)
    http_timeout_seconds: float = 10.0
    log_level: str = "INFO"
    # `auto`: coloured text at a terminal in development, JSON lines everywhere else.
    log_format: Literal["auto", "json", "console"] = "auto"
    # The certificate (PEM, then any intermediates) and key that sign agreement PDFs; when absent,
    # one is generated at first use and kept, encrypted, in the database.
    signing_certificate: Path | None = None
    signing_key: Path | None = None
    signing_key_password: SecretStr | None = None
    # Waits between webhook delivery attempts (the first is at once); failed after the last.
    webhook_retry_delays_seconds: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_timeout_seconds: float = 10.0

    @field_validator("utilities", mode="before")
    @classmethod
    def _normalize_utility_keys(cls, value: Any) -> Any:
        # Shell variables cannot carry '-', so CECONY_UTILITYAPI names `cecony-utilityapi`.
        if isinstance(value, dict):
            return {str(key).lower().replace("_", "-"): item for key, item in value.items()}
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _check_encryption_keys(cls, value: SecretStr) -> SecretStr:
        # A bad key would otherwise surface later, as a traceback from the first encryption.
        keys = [key.strip() for key in value.get_secret_value().split(",") if key.strip()]
        hint = "(generate one with: leap-connect keys generate)"
        if not keys:
            raise ValueError(f"LEAP_CONNECT_ENCRYPTION_KEYS must hold at least one key {hint}")
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    f"LEAP_CONNECT_ENCRYPTION_KEYS: key {position} is not a valid key {hint}"
                ) from None
        return value

    @model_validator(mode="after")
    def _signing_files_come_in_pairs(self) -> Settings:
        if (self.signing_certificate is None) != (self.signing_key is None):
            raise ValueError(
                "set both LEAP_CONNECT_SIGNING_CERTIFICATE and LEAP_CONNECT_SIGNING_KEY, or neither"
            )
        return self

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.env != "production":
            return self
        if self.secret_key.get_secret_value() in ("", DEVELOPMENT_SECRET_KEY):
            raise ValueError(
                "LEAP_CONNECT_SECRET_KEY must be set to a secret of your own in production"
            )
        keys = self.encryption_keys.get_secret_value()
        if keys in ("", DEVELOPMENT_ENCRYPTION_KEY) or DEVELOPMENT_ENCRYPTION_KEY in keys.split(
            ","
        ):
            raise ValueError(
                "LEAP_CONNECT_ENCRYPTION_KEYS must be set to keys of your own in production "
                "(generate one with: leap-connect keys generate)"
            )
        if not self.base_url.startswith("https://"):
            raise ValueError("LEAP_CONNECT_BASE_URL must be an https:// URL in production")
        if self.sandbox:
            raise ValueError(
                "LEAP_CONNECT_SANDBOX must be false in production: the sandbox utilities accept "
                "published passwords and secrets"
            )
        return self

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'leap-connect.db').resolve()}"

    def utility(self, utility_id: str) -> UtilitySettings:
        return self.utilities.get(utility_id, UtilitySettings())


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
