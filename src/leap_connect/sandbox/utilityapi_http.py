"""The sandbox UtilityAPI over HTTP: its authorization form and its `/api/v2` JSON API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import QueryParams

from leap_connect.sandbox.forms import declined, multi, one, redirect_back
from leap_connect.sandbox.utilityapi import (
    MAX_INTERVAL_WINDOW,
    FormRequest,
    FormRequestError,
    SandboxApiError,
    SandboxAuthorization,
    UntrustedFormRequest,
    UtilityApiSandbox,
)
from leap_connect.sandbox.utilityapi_accounts import CUSTOMER_DESCRIPTIONS, SandboxUtility

PACKAGE_DIR = Path(__file__).resolve().parent
# Relative to /authorize/{form}, so the page works wherever the sandbox is mounted.
STYLESHEET_HREF = "../static/sandbox.css"
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class _Brand:
    short_name: str
    full_name: str


_templates = Environment(
    loader=FileSystemLoader(str(PACKAGE_DIR / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def create_utilityapi_router(sandbox: UtilityApiSandbox) -> APIRouter:
    """The sandbox's endpoints, relative to its root (mount it at /sandbox/utilityapi)."""
    router = APIRouter(include_in_schema=False)
    stylesheet = (PACKAGE_DIR / "static" / "sandbox.css").read_bytes()
    api = _Api(sandbox)

    @router.get("/static/sandbox.css")
    async def sandbox_css() -> Response:
        return Response(
            stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    # --- the authorization form -------------------------------------------------------------------

    @router.get("/authorize/{form_uid}")
    async def form_page(request: Request, form_uid: str) -> Response:
        try:
            form_request = sandbox.check_form_request(form_uid, multi(request.query_params))
        except UntrustedFormRequest as error:
            return _untrusted(error)
        except FormRequestError as error:
            return _redirect_error(error)
        return _form(sandbox, form_request)

    @router.post("/authorize/{form_uid}")
    async def form_decision(request: Request, form_uid: str) -> Response:
        form = multi(await request.form(max_files=0, max_fields=20))
        try:
            form_request = sandbox.check_form_request(form_uid, form)
        except UntrustedFormRequest as error:
            return _untrusted(error)
        except FormRequestError as error:
            return _redirect_error(error)
        decision = one(form, "decision")
        if decision == "deny":
            return declined(form_request.redirect_uri, form_request.state)
        username = one(form, "username") or ""
        if decision != "approve":
            message = "Choose “Sign in and share” or “Deny”."
            return _form(sandbox, form_request, status_code=400, username=username, message=message)
        customer = sandbox.authenticate_customer(username, one(form, "password") or "")
        if customer is None:
            message = "That username and password do not match a customer. Try again."
            return _form(sandbox, form_request, status_code=401, username=username, message=message)
        authorization = sandbox.create_authorization(form_request, customer)
        return redirect_back(
            form_request.redirect_uri,
            {"referral": authorization.referral, "state": form_request.state},
        )

    # --- the API --------------------------------------------------------------------------------

    @router.get("/api/v2/authorizations")
    async def list_authorizations(request: Request) -> Response:
        return await api.run(request, api.list_authorizations)

    @router.get("/api/v2/authorizations/{uid}")
    async def get_authorization(request: Request, uid: str) -> Response:
        return await api.run(request, api.get_authorization, uid)

    @router.post("/api/v2/authorizations/{uid}/revoke")
    async def revoke_authorization(request: Request, uid: str) -> Response:
        return await api.run(request, api.revoke, uid)

    @router.get("/api/v2/meters")
    async def list_meters(request: Request) -> Response:
        return await api.run(request, api.list_meters)

    @router.get("/api/v2/meters/{uid}")
    async def get_meter(request: Request, uid: str) -> Response:
        return await api.run(request, api.get_meter, uid)

    @router.post("/api/v2/meters/historical-collection")
    async def historical_collection(request: Request) -> Response:
        return await api.run_with_body(request, api.historical_collection)

    @router.post("/api/v2/meters/ongoing-monitoring")
    async def ongoing_monitoring(request: Request) -> Response:
        return await api.run_with_body(request, api.ongoing_monitoring)

    @router.get("/api/v2/intervals")
    async def list_intervals(request: Request) -> Response:
        return await api.run(request, api.list_intervals)

    return router


def create_utilityapi_app(sandbox: UtilityApiSandbox) -> FastAPI:
    """An app with nothing but the sandbox UtilityAPI at its root, as utilityapi.com is."""
    app = FastAPI(title="Sandbox UtilityAPI", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_utilityapi_router(sandbox))
    return app


class _Api:
    """Bearer-protected JSON in UtilityAPI's shapes; errors as `{"error", "error_description"}`."""

    def __init__(self, sandbox: UtilityApiSandbox) -> None:
        self.sandbox = sandbox

    async def run(
        self, request: Request, handler: Callable[..., Awaitable[dict[str, Any]]], *args: str
    ) -> Response:
        if not self.sandbox.token_ok(request.headers.get("authorization")):
            return JSONResponse(
                SandboxApiError(401, "invalid_token", "a valid API token is required").body(),
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="utilityapi"'},
            )
        try:
            failure = self.sandbox.take_injected_failure()
            if failure is not None:
                raise failure
            body = await handler(request.query_params, *args)
        except SandboxApiError as error:
            return JSONResponse(error.body(), status_code=error.status_code, headers=NO_STORE)
        return JSONResponse(body, headers=NO_STORE)

    async def run_with_body(
        self, request: Request, handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Response:
        """A POST whose body must be a JSON object, as UtilityAPI's are."""

        async def parsed(query: QueryParams) -> dict[str, Any]:
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise SandboxApiError(400, "invalid_json", "the body must be a JSON object")
            return handler(body)

        return await self.run(request, parsed)

    def historical_collection(self, body: dict[str, Any]) -> dict[str, Any]:
        meters = self.sandbox.start_collection(_uids(body))
        return {"success": True, "meters": meters}

    def ongoing_monitoring(self, body: dict[str, Any]) -> dict[str, Any]:
        frequency = body.get("frequency")
        if not isinstance(frequency, str):
            raise SandboxApiError(400, "required_param_missing", "frequency is required")
        meters = self.sandbox.set_monitoring(_uids(body), frequency)
        return {"success": True, "meters": meters, "frequency": frequency}

    async def list_authorizations(self, query: QueryParams) -> dict[str, Any]:
        referrals, uids = _list(query, "referrals"), _list(query, "uids")
        if not referrals and not uids:
            raise SandboxApiError(400, "invalid_param", "give referrals or uids")
        found = await self.sandbox.authorizations_by_referral(referrals)
        seen = {authorization.uid for authorization in found}
        found += [a for a in self.sandbox.authorizations(uids) if a.uid not in seen]
        include_meters = "meters" in _list(query, "include")
        return {
            "authorizations": [
                self.sandbox.authorization_json(a, include_meters=include_meters) for a in found
            ],
            "next": None,
        }

    async def get_authorization(self, query: QueryParams, uid: str) -> dict[str, Any]:
        authorization = self._authorization(uid)
        include_meters = "meters" in _list(query, "include")
        return self.sandbox.authorization_json(authorization, include_meters=include_meters)

    async def revoke(self, query: QueryParams, uid: str) -> dict[str, Any]:
        authorization = self._authorization(uid)
        self.sandbox.revoke(authorization)
        return self.sandbox.authorization_json(authorization, include_meters=False)

    async def list_meters(self, query: QueryParams) -> dict[str, Any]:
        meters = [
            self.sandbox.meter_json(authorization, meter_uid, meter)
            for authorization in self.sandbox.authorizations(_list(query, "authorizations"))
            for meter_uid, meter in self.sandbox.visible_meters(authorization)
        ]
        for meter_uid in _list(query, "uids"):
            found = self.sandbox.meter(meter_uid)
            if found is not None and all(m["uid"] != meter_uid for m in meters):
                meters.append(self.sandbox.meter_json(found[0], meter_uid, found[1]))
        return {"meters": meters, "next": None}

    async def get_meter(self, query: QueryParams, uid: str) -> dict[str, Any]:
        found = self.sandbox.meter(uid)
        if found is None:
            raise SandboxApiError(404, "not_found", "no such meter")
        return self.sandbox.meter_json(found[0], uid, found[1])

    async def list_intervals(self, query: QueryParams) -> dict[str, Any]:
        meter_uids = _list(query, "meters")
        if not meter_uids:
            raise SandboxApiError(400, "invalid_param", "give meters")
        end = _time(query, "end") or self.sandbox.clock()
        start = _time(query, "start") or end - timedelta(days=30)
        if start >= end:
            raise SandboxApiError(400, "invalid_param", "start must be before end")
        if end - start > MAX_INTERVAL_WINDOW:
            days = MAX_INTERVAL_WINDOW.days
            raise SandboxApiError(400, "invalid_param", f"ask for at most {days} days at a time")
        intervals = []
        for meter_uid in dict.fromkeys(meter_uids):
            found = self.sandbox.meter(meter_uid)
            # Before its historical collection has finished, UtilityAPI has no intervals for it.
            if found is not None and self.sandbox.collection_finished(found[0], meter_uid):
                authorization, meter = found
                intervals.append(
                    self.sandbox.interval_json(authorization, meter_uid, meter, start, end)
                )
        return {"intervals": intervals, "next": None}

    def _authorization(self, uid: str) -> SandboxAuthorization:
        authorization = self.sandbox.authorization(uid)
        if authorization is None:
            raise SandboxApiError(404, "not_found", "no such authorization")
        return authorization


# --- pages ----------------------------------------------------------------------------------------


def _form(
    sandbox: UtilityApiSandbox,
    form_request: FormRequest,
    *,
    status_code: int = 200,
    username: str = "",
    message: str | None = None,
) -> HTMLResponse:
    # Chrome applies form-action to the redirect that follows the POST, so the client's origin
    # must be allowed along with our own.
    redirect = urlsplit(form_request.redirect_uri)
    seconds = sandbox.meters_delay.total_seconds()
    return _render(
        "utilityapi_authorize.html",
        status_code,
        form_action=f"'self' {redirect.scheme}://{redirect.netloc}",
        brand=_brand(form_request.utility),
        utility=form_request.utility,
        form_uid=form_request.form_uid,
        hidden_fields=form_request.hidden_fields(),
        username=username,
        message=message,
        customers=CUSTOMER_DESCRIPTIONS,
        meters_delay_seconds=f"{seconds:g}",
    )


def _untrusted(error: UntrustedFormRequest) -> HTMLResponse:
    return _render(
        "error.html",
        400,
        form_action="'none'",
        brand=_Brand("UtilityAPI", "UtilityAPI"),
        title="This authorization link cannot be used",
        message=str(error),
    )


def _brand(utility: SandboxUtility) -> _Brand:
    return _Brand(utility.short_name, f"UtilityAPI · {utility.full_name}")


def _render(template: str, status_code: int, *, form_action: str, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(
        utility_id="utilityapi", stylesheet=STYLESHEET_HREF, **context
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
            **NO_STORE,
        },
    )


def _redirect_error(error: FormRequestError) -> RedirectResponse:
    return redirect_back(
        error.redirect_uri,
        {"error": error.error, "error_description": error.description, "state": error.state},
    )


# --- helpers --------------------------------------------------------------------------------------


def _uids(body: dict[str, Any]) -> list[str]:
    """The body's `meters`: a list of uid strings (uids may come as integers)."""
    meters = body.get("meters")
    if meters is None:
        raise SandboxApiError(400, "required_param_missing", "meters is required")
    if not isinstance(meters, list) or not all(
        isinstance(uid, str | int) and not isinstance(uid, bool) for uid in meters
    ):
        raise SandboxApiError(400, "invalid_param", "meters must be a list of meter uids")
    return [str(uid) for uid in meters]


def _list(query: QueryParams, name: str) -> list[str]:
    """UtilityAPI's list parameters: comma-separated, possibly repeated."""
    items = (item.strip() for value in query.getlist(name) for item in value.split(","))
    return [item for item in items if item]


def _time(query: QueryParams, name: str) -> datetime | None:
    text = (query.get(name) or "").strip()
    if not text:
        return None
    if len(text) > 6 and text[-6] == " ":
        text = f"{text[:-6]}+{text[-5:]}"  # an unencoded "+00:00" arrives as " 00:00"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SandboxApiError(400, "invalid_param", f"{name} must be an ISO 8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
