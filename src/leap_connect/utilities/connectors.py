"""Builds each utility's connector from settings; in sandbox mode, the sandbox fills gaps."""

from __future__ import annotations

import dataclasses

from leap_connect.kit.http import HttpClientFactory
from leap_connect.settings import Settings
from leap_connect.utilities.connector import Connector
from leap_connect.utilities.green_button import GreenButtonConnector, GreenButtonEndpoints
from leap_connect.utilities.profiles import request_profile
from leap_connect.utilities.registry import UTILITIES, Protocol, Utility
from leap_connect.utilities.sandbox_access import (
    SANDBOX_API_TOKEN,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_FORM_UID,
    SANDBOX_WEBHOOK_SECRET,
    UTILITYAPI_SANDBOX,
    sandbox_base_url,
)
from leap_connect.utilities.utilityapi import UtilityApiConnector, UtilityApiEndpoints


class UtilityNotConfigured(Exception):
    def __init__(self, utility: Utility) -> None:
        super().__init__(f"{utility.name} is not configured on this instance.")
        self.utility = utility


def redirect_uri(settings: Settings, utility_id: str) -> str:
    """The one exact redirect URI registered with each utility."""
    return f"{settings.base_url}/connect/callback/{utility_id}"


def build_connectors(settings: Settings, http: HttpClientFactory) -> dict[str, Connector]:
    connectors: dict[str, Connector] = {}
    for utility in UTILITIES:
        if utility.protocol is Protocol.GREEN_BUTTON:
            endpoints = green_button_endpoints(settings, utility)
            if endpoints is not None:
                connectors[utility.utility_id] = GreenButtonConnector(utility, endpoints, http)
        elif utility.protocol is Protocol.UTILITYAPI:
            utilityapi = utilityapi_endpoints(settings, utility)
            if utilityapi is not None:
                connectors[utility.utility_id] = UtilityApiConnector(utility, utilityapi, http)
    return connectors


def utilityapi_endpoints(settings: Settings, utility: Utility) -> UtilityApiEndpoints | None:
    configured = settings.utility(utility.utility_id)
    if configured.form_url and configured.api_base_url and configured.api_token:
        secret = configured.webhook_secret
        return UtilityApiEndpoints(
            form_url=configured.form_url,
            api_base_url=configured.api_base_url,
            api_token=configured.api_token.get_secret_value(),
            webhook_secret=secret.get_secret_value() if secret else None,
        )
    if not settings.sandbox:
        return None
    base = sandbox_base_url(settings, UTILITYAPI_SANDBOX)
    return UtilityApiEndpoints(
        form_url=f"{base}/authorize/{SANDBOX_FORM_UID}",
        api_base_url=base,
        api_token=SANDBOX_API_TOKEN,
        webhook_secret=SANDBOX_WEBHOOK_SECRET,
    )


class UtilityMisconfigured(Exception):
    """The configuration of a utility cannot work: raised at start-up, never per request."""


def green_button_endpoints(settings: Settings, utility: Utility) -> GreenButtonEndpoints | None:
    configured = settings.utility(utility.utility_id)
    try:
        profile = request_profile(utility.utility_id, configured)
    except ValueError as error:
        raise UtilityMisconfigured(
            f"LEAP_CONNECT_UTILITIES__{_env_id(utility)}__: {error}"
        ) from None
    if configured.authorize_url and configured.token_url and configured.client_id:
        if profile.mutual_tls and not settings.is_development and not configured.client_cert:
            raise UtilityMisconfigured(
                f"{utility.name} requires mutual TLS: set LEAP_CONNECT_UTILITIES__"
                f"{_env_id(utility)}__CLIENT_CERT and __CLIENT_KEY"
            )
        secret = configured.client_secret.get_secret_value() if configured.client_secret else ""
        return GreenButtonEndpoints(
            authorize_url=configured.authorize_url,
            token_url=configured.token_url,
            revoke_url=configured.revoke_url,
            client_id=configured.client_id,
            client_secret=secret,
            profile=profile,
            client_cert=configured.client_cert,
            client_key=configured.client_key,
            ca_bundle=configured.ca_bundle,
        )
    if not settings.sandbox:
        return None
    base = sandbox_base_url(settings, utility.utility_id)
    return GreenButtonEndpoints(
        authorize_url=f"{base}/oauth/authorize",
        token_url=f"{base}/oauth/token",
        revoke_url=f"{base}/oauth/revoke",
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        # The built-in sandbox speaks plain http inside this instance: no client certificate.
        profile=dataclasses.replace(profile, mutual_tls=False),
    )


def _env_id(utility: Utility) -> str:
    return utility.utility_id.upper().replace("-", "_")
