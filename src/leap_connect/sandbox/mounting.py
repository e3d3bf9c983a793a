"""Mounts the built-in sandbox utilities inside the app when sandbox mode is on."""

from __future__ import annotations

from fastapi import APIRouter

from leap_connect.sandbox.green_button import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    DataCustodian,
    RegisteredClient,
    create_green_button_router,
)
from leap_connect.settings import Settings
from leap_connect.utilities.connectors import redirect_uri, sandbox_base_url
from leap_connect.utilities.registry import UTILITIES, Protocol


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
            )
            router.include_router(
                create_green_button_router(custodian), prefix=f"/sandbox/{utility.utility_id}"
            )
    return router
