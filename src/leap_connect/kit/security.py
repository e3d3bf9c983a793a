"""Security headers on every response (ARCHITECTURE section 6), and no caching of API answers."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Forms post to this instance, which redirects the customer on to their utility: `form-action`
# covers those redirects too. Utilities are https in production; in development the sandbox
# utility may be plain http on this machine.
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
CONTENT_SECURITY_POLICY = _POLICY.format(form_action="'self' https:")
DEVELOPMENT_CONTENT_SECURITY_POLICY = _POLICY.format(form_action="'self' https: http:")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production
        self.policy = CONTENT_SECURITY_POLICY if production else DEVELOPMENT_CONTENT_SECURITY_POLICY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                path = scope["path"]
                if path.startswith("/connect/callback/"):
                    headers["Referrer-Policy"] = "no-referrer"
                if path == "/v2" or path.startswith("/v2/"):
                    # A partner's meters, sessions and agreements: no cache keeps them (an
                    # operation that says more, such as the PDF's `private`, keeps its own).
                    headers.setdefault("Cache-Control", "no-store")
                if self.production:
                    headers.setdefault(
                        "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)
