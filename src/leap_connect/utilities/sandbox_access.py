"""Where the built-in sandbox utilities answer, and the published test credentials they accept.

The connectors read these to fill in a utility that has no endpoints of its own when sandbox mode is
on; the sandbox servers (`leap_connect.sandbox`) accept them. They are test values, published in
the README, and never valid anywhere else.
"""

from __future__ import annotations

from leap_connect.settings import Settings

SANDBOX_CLIENT_ID = "leap-connect-sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the sandbox's published test secret

# The one sandbox UtilityAPI serves every New York utility, as UtilityAPI itself does.
UTILITYAPI_SANDBOX = "utilityapi"
SANDBOX_FORM_UID = "leap-connect"
SANDBOX_API_TOKEN = "sandbox-utilityapi-token"  # noqa: S105 - the sandbox's published test token
SANDBOX_WEBHOOK_SECRET = "sandbox-utilityapi-webhook-secret"  # noqa: S105 - published test secret


def sandbox_base_url(settings: Settings, sandbox_id: str) -> str:
    """Where this instance mounts a sandbox: a Green Button utility's ID, or UtilityAPI's."""
    return f"{settings.base_url}/sandbox/{sandbox_id}"
