"""Mounts the built-in sandbox utilities inside the app when sandbox mode is on."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from leap_connect.kit.http import HttpClientFactory
from leap_connect.sandbox.green_button import (
    DataCustodian,
    RegisteredClient,
    create_green_button_router,
    default_mode,
)
from leap_connect.sandbox.utilityapi import UtilityApiSandbox
from leap_connect.sandbox.utilityapi_http import create_utilityapi_router
from leap_connect.settings import Settings
from leap_connect.utilities.connectors import redirect_uri
from leap_connect.utilities.registry import UTILITIES, Protocol
from leap_connect.utilities.sandbox_access import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_FORM_UID,
    UTILITYAPI_SANDBOX,
    sandbox_base_url,
)


def sandbox_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for utility in UTILITIES:
        if utility.protocol is Protocol.GREEN_BUTTON:
            custodian = DataCustodian(
                utility.utility_id,
                public_base_url=sandbox_base_url(settings, utility.utility_id),
                clients=[
                    RegisteredClient(
                        client_id=SANDBOX_CLIENT_ID,
                        client_secret=SANDBOX_CLIENT_SECRET,
                        redirect_uris=(redirect_uri(settings, utility.utility_id),),
                        client_name="Leap Connect",
                    )
                ],
                mode=default_mode(utility.utility_id),
            )
            router.include_router(
                create_green_button_router(custodian), prefix=f"/sandbox/{utility.utility_id}"
            )
    router.include_router(
        create_utilityapi_router(utilityapi_sandbox(settings)),
        prefix=f"/sandbox/{UTILITYAPI_SANDBOX}",
    )
    return router


def utilityapi_sandbox(settings: Settings) -> UtilityApiSandbox:
    """The sandbox UtilityAPI account of this instance: one form that may send customers back to
    any New York utility's callback, and webhooks to this instance."""
    return UtilityApiSandbox(
        forms={
            SANDBOX_FORM_UID: [
                redirect_uri(settings, utility.utility_id)
                for utility in UTILITIES
                if utility.protocol is Protocol.UTILITYAPI
            ]
        },
        webhook_url=f"{settings.base_url}/connect/webhooks/utilityapi",
        meters_delay=timedelta(seconds=settings.sandbox_utilityapi_meters_delay_seconds),
        collection_delay=timedelta(seconds=settings.sandbox_utilityapi_collection_delay_seconds),
        http=HttpClientFactory(timeout=settings.http_timeout_seconds),
    )
