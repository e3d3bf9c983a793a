"""The sandbox Green Button Connect My Data custodians over HTTP: OAuth 2.0 and ESPI resources."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from leap_connect.sandbox.custodian import (
    PGE_REGISTERED_SCOPE,
    AccessToken,
    AuthorizationRequest,
    AuthorizationRequestError,
    CustodianMode,
    DataCustodian,
    Grant,
    OAuthError,
    RegisteredClient,
    UntrustedRedirectError,
    default_mode,
    parse_scope,
    sandbox_client,
    utc_now,
)
from leap_connect.sandbox.customers import (
    SANDBOX_CUSTOMERS,
    SUPPORTED_UTILITY_IDS,
    CustomerProfile,
    IntervalBlockData,
    SandboxMeterReading,
    SandboxUsagePoint,
    customer_profile,
    data_window,
)
from leap_connect.sandbox.espi_writer import (
    ATOM_MEDIA_TYPE,
    Entry,
    authorization_entry,
    entry_document,
    feed_document,
    interval_block_entry,
    local_time_parameters_entry,
    meter_reading_entry,
    reading_type_entry,
    retail_customer_entries,
    subscription_entries,
    usage_point_entry,
)
from leap_connect.sandbox.forms import declined, multi, one, redirect_back
from leap_connect.utilities.sandbox_access import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "CustodianMode",
    "DataCustodian",
    "RegisteredClient",
    "create_green_button_router",
    "create_sandbox_app",
    "create_sandbox_custodians",
    "default_mode",
    "run_standalone",
    "sandbox_client",
]

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCE_PREFIX = "/espi/1_1/resource"
# Relative to /oauth/authorize, so the page works wherever the custodian is mounted.
STYLESHEET_HREF = "../static/sandbox.css"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class _Brand:
    short_name: str
    full_name: str


_BRANDS = {
    "pge": _Brand("PG&E", "Pacific Gas and Electric Company"),
    "sce": _Brand("SCE", "Southern California Edison"),
    "sdge": _Brand("SDG&E", "San Diego Gas & Electric"),
}

# The sandbox renders its own pages so it also runs alone, without the app's template folders.
_templates = Environment(
    loader=FileSystemLoader(str(PACKAGE_DIR / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def create_green_button_router(custodian: DataCustodian) -> APIRouter:
    """The custodian's endpoints, with paths relative to its base (mount it at /sandbox/{id})."""
    router = APIRouter(include_in_schema=False)
    pages = _Pages(custodian)
    stylesheet = (PACKAGE_DIR / "static" / "sandbox.css").read_bytes()

    @router.get("/static/sandbox.css")
    async def sandbox_css() -> Response:
        return Response(
            stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    # --- authorization endpoint (RFC 6749 §4.1.1) ---------------------------------------------

    @router.get("/oauth/authorize")
    async def authorize_page(request: Request) -> Response:
        try:
            authorization = custodian.check_authorization_request(multi(request.query_params))
        except UntrustedRedirectError as error:
            return pages.untrusted_redirect(error)
        except AuthorizationRequestError as error:
            return redirect_back(error.redirect_uri, _error_params(error))
        return pages.consent(authorization)

    @router.post("/oauth/authorize")
    async def authorize_decision(request: Request) -> Response:
        form = multi(await request.form())
        try:
            authorization = custodian.check_authorization_request(form)
        except UntrustedRedirectError as error:
            return pages.untrusted_redirect(error)
        except AuthorizationRequestError as error:
            return redirect_back(error.redirect_uri, _error_params(error))
        decision = one(form, "decision")
        if decision == "deny":
            return declined(authorization.redirect_uri, authorization.state)
        username = one(form, "username") or ""
        if decision != "approve":
            return pages.consent(
                authorization,
                status_code=400,
                username=username,
                message="Choose “Sign in and share” or “Deny”.",
            )
        customer = custodian.authenticate_customer(username, one(form, "password") or "")
        if customer is None:
            return pages.consent(
                authorization,
                status_code=401,
                username=username,
                message="That username and password do not match a customer. Try again.",
            )
        code = custodian.issue_code(authorization, customer)
        return redirect_back(
            authorization.redirect_uri, {"code": code, "state": authorization.state}
        )

    # --- token and revocation endpoints (RFC 6749 §4.1.3, §6, §4.4; RFC 7009) ----------------

    @router.post("/oauth/token")
    async def token(request: Request) -> Response:
        try:
            client = custodian.authenticate_client(request.headers.get("authorization"))
            body = await custodian.token(client, multi(await request.form()))
        except OAuthError as error:
            return _oauth_error(error)
        return JSONResponse(body, headers=NO_STORE)

    @router.post("/oauth/revoke")
    async def revoke(request: Request) -> Response:
        try:
            client = custodian.authenticate_client(request.headers.get("authorization"))
            custodian.revoke(client, one(multi(await request.form()), "token"))
        except OAuthError as error:
            return _oauth_error(error)
        return Response(status_code=200, headers=NO_STORE)

    # --- ESPI resources -----------------------------------------------------------------------

    resources = _Resources(custodian)
    prefix = RESOURCE_PREFIX

    @router.get(prefix + "/Batch/Subscription/{subscription_id}")
    async def subscription_batch(request: Request, subscription_id: str) -> Response:
        return await resources.batch(request, subscription_id, None)

    @router.get(prefix + "/Batch/Subscription/{subscription_id}/UsagePoint/{usage_point_id}")
    async def usage_point_batch(
        request: Request, subscription_id: str, usage_point_id: str
    ) -> Response:
        return await resources.batch(request, subscription_id, usage_point_id)

    @router.get(prefix + "/Subscription/{subscription_id}/UsagePoint")
    async def usage_points(request: Request, subscription_id: str) -> Response:
        return resources.usage_points(request, subscription_id, None)

    @router.get(prefix + "/Subscription/{subscription_id}/UsagePoint/{usage_point_id}")
    async def usage_point(request: Request, subscription_id: str, usage_point_id: str) -> Response:
        return resources.usage_points(request, subscription_id, usage_point_id)

    @router.get(prefix + "/Subscription/{subscription_id}/UsagePoint/{usage_point_id}/MeterReading")
    async def meter_readings(
        request: Request, subscription_id: str, usage_point_id: str
    ) -> Response:
        return resources.meter_readings(request, subscription_id, usage_point_id, None)

    @router.get(
        prefix + "/Subscription/{subscription_id}/UsagePoint/{usage_point_id}"
        "/MeterReading/{meter_reading_id}"
    )
    async def meter_reading(
        request: Request, subscription_id: str, usage_point_id: str, meter_reading_id: str
    ) -> Response:
        return resources.meter_readings(request, subscription_id, usage_point_id, meter_reading_id)

    @router.get(
        prefix + "/Subscription/{subscription_id}/UsagePoint/{usage_point_id}"
        "/MeterReading/{meter_reading_id}/IntervalBlock"
    )
    async def interval_blocks(
        request: Request, subscription_id: str, usage_point_id: str, meter_reading_id: str
    ) -> Response:
        return await resources.interval_blocks(
            request, subscription_id, usage_point_id, meter_reading_id, None
        )

    @router.get(
        prefix + "/Subscription/{subscription_id}/UsagePoint/{usage_point_id}"
        "/MeterReading/{meter_reading_id}/IntervalBlock/{interval_block_id}"
    )
    async def interval_block(
        request: Request,
        subscription_id: str,
        usage_point_id: str,
        meter_reading_id: str,
        interval_block_id: str,
    ) -> Response:
        return await resources.interval_blocks(
            request, subscription_id, usage_point_id, meter_reading_id, interval_block_id
        )

    @router.get(prefix + "/ReadingType/{reading_type_id}")
    async def reading_type(request: Request, reading_type_id: str) -> Response:
        return resources.reading_type(request, reading_type_id)

    @router.get(prefix + "/LocalTimeParameters/{local_time_parameters_id}")
    async def local_time_parameters(request: Request, local_time_parameters_id: str) -> Response:
        return resources.local_time_parameters(request, local_time_parameters_id)

    @router.get(prefix + "/Authorization")
    async def authorizations(request: Request) -> Response:
        return resources.authorizations(request, None)

    @router.get(prefix + "/Authorization/{authorization_id}")
    async def authorization(request: Request, authorization_id: str) -> Response:
        return resources.authorizations(request, authorization_id)

    @router.delete(prefix + "/Authorization/{authorization_id}")
    async def delete_authorization(request: Request, authorization_id: str) -> Response:
        """The third party ends a grant (ESPI): with its client token, or the grant's own."""
        access = resources._bearer(request)
        if isinstance(access, Response):
            return access
        if not custodian.delete_authorization(access, authorization_id):
            return _forbidden("this token cannot end that authorization")
        return Response(status_code=200, headers=NO_STORE)

    # --- the customer's own account: who they share with, and stopping it -----------------

    @router.get("/account/sharing")
    async def sharing_page(request: Request) -> Response:
        return pages.sharing()

    @router.post("/account/sharing")
    async def sharing_decision(request: Request) -> Response:
        form = multi(await request.form())
        username = one(form, "username") or ""
        customer = custodian.authenticate_customer(username, one(form, "password") or "")
        if customer is None:
            return pages.sharing(
                status_code=401,
                username=username,
                message="That username and password do not match a customer. Try again.",
            )
        stop = one(form, "stop")
        if stop and custodian.revoke_by_customer(customer.username, stop):
            message = "You stopped sharing your data with that company."
        else:
            message = None
        return pages.sharing(
            username=customer.username,
            grants=custodian.grants_of_customer(customer.username),
            message=message,
            signed_in=True,
        )

    @router.get(prefix + "/Batch/RetailCustomer/{retail_customer_id}")
    async def retail_customer(request: Request, retail_customer_id: str) -> Response:
        return resources.retail_customer(request, retail_customer_id)

    return router


class _Pages:
    """The custodian's HTML: the sign-in and consent page, and the page for untrusted requests."""

    def __init__(self, custodian: DataCustodian) -> None:
        self.custodian = custodian
        self.brand = _BRANDS[custodian.utility_id]

    def consent(
        self,
        authorization: AuthorizationRequest,
        *,
        status_code: int = 200,
        username: str = "",
        message: str | None = None,
    ) -> HTMLResponse:
        # Chrome applies form-action to the redirect that follows the POST, so the client's
        # origin must be allowed along with our own.
        redirect = urlsplit(authorization.redirect_uri)
        return self._render(
            "authorize.html",
            status_code,
            form_action=f"'self' {redirect.scheme}://{redirect.netloc}",
            client_name=authorization.client.display_name,
            scope_items=_describe_request(authorization),
            hidden_fields=authorization.hidden_fields(),
            username=username,
            message=message,
            customers=list(SANDBOX_CUSTOMERS.values()),
        )

    def sharing(
        self,
        *,
        status_code: int = 200,
        username: str = "",
        grants: Sequence[Grant] = (),
        message: str | None = None,
        signed_in: bool = False,
    ) -> HTMLResponse:
        """The customer's own account page: the companies they share with, and a way to stop."""
        return self._render(
            "sharing.html",
            status_code,
            form_action="'self'",
            username=username,
            grants=grants,
            message=message,
            signed_in=signed_in,
            client_names={
                client.client_id: client.display_name for client in self.custodian.clients.values()
            },
        )

    def untrusted_redirect(self, error: UntrustedRedirectError) -> HTMLResponse:
        return self._render(
            "error.html",
            400,
            form_action="'none'",
            title="This sign-in link cannot be used",
            message=str(error),
        )

    def _render(
        self, template: str, status_code: int, *, form_action: str, **context: Any
    ) -> HTMLResponse:
        html = _templates.get_template(template).render(
            brand=self.brand,
            utility_id=self.custodian.utility_id,
            stylesheet=STYLESHEET_HREF,
            **context,
        )
        return HTMLResponse(
            html,
            status_code=status_code,
            headers={
                "Content-Security-Policy": (
                    f"default-src 'none'; style-src 'self'; form-action {form_action}; "
                    "frame-ancestors 'none'; base-uri 'none'"
                ),
                "X-Frame-Options": "DENY",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )


class _Resources:
    """The ESPI resource server: Bearer-protected Atom feeds and entries."""

    def __init__(self, custodian: DataCustodian) -> None:
        self.custodian = custodian
        self.urls = custodian.urls

    # --- usage ------------------------------------------------------------------------------

    async def batch(
        self, request: Request, subscription_id: str, usage_point_id: str | None
    ) -> Response:
        found = self._subscription(request, subscription_id)
        if isinstance(found, Response):
            return found
        profile = self.custodian.profile(found)
        points = self._points(profile, usage_point_id)
        if points is None:
            return _not_found("usage point")
        window = self._window(request)
        if isinstance(window, Response):
            return window
        (start, end), published = window, data_window(self.custodian.clock())[1]
        if usage_point_id is None:
            self_href = self.urls.subscription_batch(subscription_id)
        else:
            self_href = (
                f"{self.urls.subscription_batch(subscription_id)}/UsagePoint/{usage_point_id}"
            )
        updated = self.custodian.clock()

        def build() -> bytes:
            blocks = [point.interval_blocks(start, end) for point in points]
            entries = subscription_entries(
                self.urls, subscription_id, points, blocks, published=published
            )
            return feed_document(
                title="Green Button subscription",
                self_href=self_href,
                self_type="espi-feed/Subscription",
                updated=updated,
                entries=entries,
            )

        # A year of 15-minute readings takes a second or more to write: off the event loop.
        return _atom(await run_in_threadpool(build))

    def usage_points(
        self, request: Request, subscription_id: str, usage_point_id: str | None
    ) -> Response:
        found = self._subscription(request, subscription_id)
        if isinstance(found, Response):
            return found
        points = self._points(self.custodian.profile(found), usage_point_id)
        if points is None:
            return _not_found("usage point")
        published = data_window(self.custodian.clock())[1]
        entries = [
            usage_point_entry(self.urls, subscription_id, point, published=published)
            for point in points
        ]
        if usage_point_id is not None:
            return _atom(entry_document(entries[0]))
        return self._feed(
            "Usage points", self.urls.usage_points(subscription_id), "UsagePoint", entries
        )

    def meter_readings(
        self,
        request: Request,
        subscription_id: str,
        usage_point_id: str,
        meter_reading_id: str | None,
    ) -> Response:
        found = self._meter_reading(request, subscription_id, usage_point_id, meter_reading_id)
        if isinstance(found, Response):
            return found
        point, _ = found
        published = data_window(self.custodian.clock())[1]
        entries = [
            meter_reading_entry(
                self.urls, subscription_id, point, published=published, reading=reading
            )
            for reading in point.meter_readings
            if meter_reading_id in (None, reading.meter_reading_id)
        ]
        if meter_reading_id is not None:
            return _atom(entry_document(entries[0]))
        href = self.urls.meter_readings(subscription_id, point)
        return self._feed("Meter readings", href, "MeterReading", entries)

    async def interval_blocks(
        self,
        request: Request,
        subscription_id: str,
        usage_point_id: str,
        meter_reading_id: str,
        interval_block_id: str | None,
    ) -> Response:
        found = self._meter_reading(request, subscription_id, usage_point_id, meter_reading_id)
        if isinstance(found, Response):
            return found
        point, _ = found
        window = self._window(request)
        if isinstance(window, Response):
            return window
        start, end = window
        updated = self.custodian.clock()

        def build() -> bytes | None:
            blocks: Iterable[IntervalBlockData] = [
                block
                for block in point.interval_blocks(start, end)
                if block.meter_reading_id == meter_reading_id
            ]
            if interval_block_id is not None:
                block = next((b for b in blocks if b.block_id == interval_block_id), None)
                if block is None:
                    return None
                return entry_document(
                    interval_block_entry(self.urls, subscription_id, point, block)
                )
            return feed_document(
                title="Interval blocks",
                self_href=self.urls.interval_blocks(subscription_id, point, meter_reading_id),
                self_type="espi-feed/IntervalBlock",
                updated=updated,
                entries=[
                    interval_block_entry(self.urls, subscription_id, point, block)
                    for block in blocks
                ],
            )

        body = await run_in_threadpool(build)
        return _not_found("interval block") if body is None else _atom(body)

    def reading_type(self, request: Request, reading_type_id: str) -> Response:
        access = self._bearer(request)
        if isinstance(access, Response):
            return access
        profile = self.custodian.profile(access.grant) if access.grant else None
        points = profile.usage_points if profile else ()
        found = next(
            (
                (point, reading)
                for point in points
                for reading in point.meter_readings
                if reading.reading_type_id == reading_type_id
            ),
            None,
        )
        if found is None:
            return _not_found("reading type")
        published = data_window(self.custodian.clock())[1]
        point, reading = found
        return _atom(
            entry_document(
                reading_type_entry(self.urls, point, published=published, reading=reading)
            )
        )

    def local_time_parameters(self, request: Request, local_time_parameters_id: str) -> Response:
        access = self._bearer(request)
        if isinstance(access, Response):
            return access
        if self.urls.local_time_parameters().rsplit("/", 1)[1] != local_time_parameters_id:
            return _not_found("local time parameters")
        published = data_window(self.custodian.clock())[1]
        return _atom(entry_document(local_time_parameters_entry(self.urls, published=published)))

    # --- authorizations and customers -------------------------------------------------------

    def authorizations(self, request: Request, authorization_id: str | None) -> Response:
        """A client token reads every Authorization of its client (revoked ones too); a customer
        token reads its own grant's."""
        access = self._bearer(request)
        if isinstance(access, Response):
            return access
        if access.grant is not None:
            visible = [access.grant]
        else:
            visible = self.custodian.grants_for_client(access.client_id)
        if authorization_id is None:
            entries = [
                authorization_entry(self.urls, self.custodian.authorization_view(grant))
                for grant in visible
            ]
            return self._feed(
                "Authorizations", self.urls.authorizations(), "Authorization", entries
            )
        grant = self.custodian.grant(authorization_id)
        if grant is None:
            return _not_found("authorization")
        if grant not in visible:
            return _forbidden("this token cannot read that authorization")
        view = self.custodian.authorization_view(grant)
        return _atom(entry_document(authorization_entry(self.urls, view)))

    def retail_customer(self, request: Request, retail_customer_id: str) -> Response:
        access = self._bearer(request)
        if isinstance(access, Response):
            return access
        grant = access.grant
        if grant is None or self.custodian.profile(grant).retail_customer_id != retail_customer_id:
            published = {
                customer_profile(self.custodian.utility_id, username).retail_customer_id
                for username in SANDBOX_CUSTOMERS
            }
            if retail_customer_id not in published:
                return _not_found("retail customer")
            return _forbidden("this token was not granted that customer's data")
        profile = self.custodian.profile(grant)
        entries = retail_customer_entries(
            self.urls,
            grant.subscription_id,
            profile,
            published=data_window(self.custodian.clock())[1],
        )
        href = self.urls.retail_customer_batch(retail_customer_id)
        return _atom(
            feed_document(
                title="Retail customer",
                self_href=href,
                self_type="cust-feed/RetailCustomer",
                updated=self.custodian.clock(),
                entries=entries,
            )
        )

    # --- access checks ----------------------------------------------------------------------

    def _bearer(self, request: Request) -> AccessToken | Response:
        realm = f'Bearer realm="{self.custodian.utility_id}"'
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return JSONResponse(
                {"error": "invalid_request", "error_description": "a Bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": realm},
            )
        access = self.custodian.access(token.strip())
        if access is None:
            return JSONResponse(
                {
                    "error": "invalid_token",
                    "error_description": "the access token is unknown, expired or revoked",
                },
                status_code=401,
                headers={"WWW-Authenticate": f'{realm}, error="invalid_token"'},
            )
        return access

    def _subscription(self, request: Request, subscription_id: str) -> Grant | Response:
        access = self._bearer(request)
        if isinstance(access, Response):
            return access
        grant = self.custodian.grant_for_subscription(subscription_id)
        if grant is None:
            return _not_found("subscription")
        if access.grant is not grant:
            return _forbidden("this token was not granted that subscription")
        return grant

    def _meter_reading(
        self,
        request: Request,
        subscription_id: str,
        usage_point_id: str,
        meter_reading_id: str | None,
    ) -> tuple[SandboxUsagePoint, SandboxMeterReading | None] | Response:
        found = self._subscription(request, subscription_id)
        if isinstance(found, Response):
            return found
        point = self.custodian.profile(found).usage_point(usage_point_id)
        if point is None:
            return _not_found("usage point")
        if meter_reading_id is None:
            return point, None
        reading = point.meter_reading(meter_reading_id)
        if reading is None:
            return _not_found("meter reading")
        return point, reading

    @staticmethod
    def _points(
        profile: CustomerProfile, usage_point_id: str | None
    ) -> tuple[SandboxUsagePoint, ...] | None:
        if usage_point_id is None:
            return profile.usage_points
        point = profile.usage_point(usage_point_id)
        return (point,) if point else None

    def _window(self, request: Request) -> tuple[datetime, datetime] | Response:
        """The published history, narrowed by ESPI's published-min / published-max (UTC)."""
        start, end = data_window(self.custodian.clock())
        bounds: dict[str, datetime] = {}
        for name in ("published-min", "published-max"):
            values = request.query_params.getlist(name)
            if not values:
                continue
            moment = _parse_time(values[0]) if len(values) == 1 else None
            if moment is None:
                return _bad_request(f"{name} must be one ISO 8601 time, e.g. 2024-05-01T00:00:00Z")
            bounds[name] = moment
        low, high = bounds.get("published-min"), bounds.get("published-max")
        if low is not None and high is not None and low >= high:
            return _bad_request("published-min must be before published-max")
        return max(start, low or start), min(end, high or end)

    def _feed(self, title: str, href: str, kind: str, entries: Sequence[Entry]) -> Response:
        return _atom(
            feed_document(
                title=title,
                self_href=href,
                self_type=f"espi-feed/{kind}",
                updated=self.custodian.clock(),
                entries=entries,
            )
        )


# --- the sandbox alone ------------------------------------------------------------------------


def create_sandbox_custodians(
    public_base_url: str,
    clients: Sequence[RegisteredClient],
    *,
    clock: Callable[[], datetime] = utc_now,
    slow_seconds: float = 5.0,
    modes: Mapping[str, CustodianMode] | None = None,
) -> list[DataCustodian]:
    """One custodian per Green Button utility, at {public_base_url}/sandbox/{utility_id}, each in
    its utility's mode unless `modes` names another."""
    modes = modes or {}
    root = public_base_url.rstrip("/")
    return [
        DataCustodian(
            utility_id,
            public_base_url=f"{root}/sandbox/{utility_id}",
            clients=clients,
            clock=clock,
            slow_seconds=slow_seconds,
            mode=modes.get(utility_id, default_mode(utility_id)),
        )
        for utility_id in SUPPORTED_UTILITY_IDS
    ]


def create_sandbox_app(custodians: Sequence[DataCustodian]) -> FastAPI:
    """An app with nothing but the custodians, each mounted at /sandbox/{utility_id}."""
    app = FastAPI(
        title="Leap Connect sandbox utilities", docs_url=None, redoc_url=None, openapi_url=None
    )
    for custodian in custodians:
        app.include_router(
            create_green_button_router(custodian), prefix=f"/sandbox/{custodian.utility_id}"
        )

    @app.get("/", include_in_schema=False)
    async def index() -> dict[str, object]:
        """Where each custodian's endpoints are, for a person or script starting from scratch."""
        return {
            "utilities": [
                {
                    "utility_id": custodian.utility_id,
                    "authorization_endpoint": f"{custodian.public_base_url}/oauth/authorize",
                    "token_endpoint": f"{custodian.public_base_url}/oauth/token",
                    "revocation_endpoint": f"{custodian.public_base_url}/oauth/revoke",
                    "mode": custodian.mode.value,
                    # Where a test customer signs in to stop sharing, as at the real utility.
                    "sharing_page": f"{custodian.public_base_url}/account/sharing",
                    "resource_base": custodian.urls.base,
                }
                for custodian in custodians
            ],
            "test_customers": {c.username: c.description for c in SANDBOX_CUSTOMERS.values()},
            "password": "sandbox",
        }

    return app


def run_standalone(
    host: str,
    port: int,
    public_base_url: str,
    clients: Sequence[RegisteredClient],
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    ssl_client_ca: str | None = None,
    modes: Mapping[str, CustodianMode] | None = None,
) -> None:
    """Serve the pge, sce and sdge custodians alone; `public_base_url` is this server's root
    URL as clients reach it (e.g. http://127.0.0.1:9100). With `ssl_client_ca`, every client
    must present a certificate signed by it (mutual TLS, as PG&E demands)."""
    import ssl

    import uvicorn

    app = create_sandbox_app(create_sandbox_custodians(public_base_url, clients, modes=modes))
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        ssl_ca_certs=ssl_client_ca,
        ssl_cert_reqs=ssl.CERT_REQUIRED if ssl_client_ca else ssl.CERT_NONE,
    )


# --- helpers ----------------------------------------------------------------------------------


def _error_params(error: AuthorizationRequestError) -> dict[str, str | None]:
    return {"error": error.error, "error_description": error.description, "state": error.state}


def _describe_request(authorization: AuthorizationRequest) -> list[str]:
    """What the customer is asked to share: PG&E's registered data until the preferred end, or
    the ESPI scope of the request."""
    dates = authorization.auth_end_dates
    if dates is None:
        return _describe_scope(authorization.scope)
    return [
        *_describe_scope(PGE_REGISTERED_SCOPE),
        f"Until {dates.preferred:%B} {dates.preferred.day}, {dates.preferred.year}",
    ]


def _describe_scope(scope_text: str) -> list[str]:
    """The requested ESPI scope in the customer's words."""
    scope = parse_scope(scope_text)
    if scope is None:
        return [scope_text]
    blocks = set(scope.function_blocks)
    items = []
    interval = scope.parameter("IntervalDuration")
    usage = "Your electricity use"
    if interval and interval.isdigit() and int(interval) >= 60:
        usage += f", in {int(interval) // 60}-minute intervals"
    items.append(usage)
    if 5 in blocks:
        items.append("Your peak demand")
    if blocks & {15, 16}:
        items.append("Your usage summaries and bill amounts")
    history = scope.parameter("HistoryLength")
    if history and history.isdigit():
        items.append(f"Up to {int(history) // 86400} days of past data")
    items.append("Your name, account number and service addresses")
    return items


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _atom(body: bytes) -> Response:
    return Response(body, media_type=ATOM_MEDIA_TYPE)


def _oauth_error(error: OAuthError) -> JSONResponse:
    return JSONResponse(
        error.body(), status_code=error.status_code, headers={**NO_STORE, **error.headers}
    )


def _bad_request(description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_request", "error_description": description}, status_code=400
    )


def _not_found(what: str) -> JSONResponse:
    return JSONResponse(
        {"error": "not_found", "error_description": f"no such {what}"}, status_code=404
    )


def _forbidden(description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "insufficient_scope", "error_description": description}, status_code=403
    )
