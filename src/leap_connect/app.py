"""The FastAPI application factory: wires settings, database, middleware, errors and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leap_connect import __version__
from leap_connect.api.docs_pages import router as docs_api
from leap_connect.connect.api import router as connect_api
from leap_connect.connect.branding import (
    customer_error_page,
    customer_words,
    is_customer_path,
    owner_of_path,
)
from leap_connect.connect.link_opens import saving_link_opens
from leap_connect.connect.pages import any_link_router, landing_router
from leap_connect.connect.pages import router as journey_router
from leap_connect.connect.terms_pages import router as terms_router
from leap_connect.connect.utility_start_pages import router as utility_start_router
from leap_connect.esign.api import router as agreements_api
from leap_connect.kit.admission import AdmissionMiddleware
from leap_connect.kit.body_limit import RequestBodyMiddleware
from leap_connect.kit.i18n import N_, LanguageMiddleware
from leap_connect.kit.observability import (
    RequestContextMiddleware,
    UnhandledErrorMiddleware,
    configure_logging,
)
from leap_connect.kit.pages import error_page, error_response, is_api_path
from leap_connect.kit.problems import LeapConnectError, problem_response
from leap_connect.kit.security import SecurityHeadersMiddleware
from leap_connect.kit.templating import PACKAGE_DIR
from leap_connect.kit.text import displayable
from leap_connect.meters.api import router as meters_api
from leap_connect.meters.webhooks_api import router as utilityapi_webhooks_router
from leap_connect.ops.api import admission_of
from leap_connect.ops.api import router as ops_router
from leap_connect.portal.pages import router as portal_router
from leap_connect.portal.pages.connect_tab import BODY_LIMITS as PORTAL_BODY_LIMITS
from leap_connect.runtime import Runtime, build_runtime
from leap_connect.sandbox.mounting import sandbox_router
from leap_connect.settings import Settings
from leap_connect.webhooks.api import router as webhooks_api

log = structlog.get_logger("leap_connect.app")

# Every /v2 operation, from the domains that own them, and /docs.
PARTNER_API_ROUTERS = (meters_api, connect_api, agreements_api, webhooks_api, docs_api)
API_NOT_FOUND = "There is no API operation at this path. The operations are listed at /docs."


def create_app(
    settings: Settings | None = None, *, extra_routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """The app; `extra_routers` are mounted after the built-in ones (the demo's thank-you page)."""
    settings = settings or Settings()
    configure_logging(
        settings.log_level, settings.log_format, development=settings.env == "development"
    )
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with saving_link_opens(runtime):
            yield
        await runtime.close()

    app = FastAPI(
        title="Leap Connect API",
        version=__version__,
        summary="Find the meters your customers authorized, and follow their connections.",
        lifespan=lifespan,
        docs_url=None,  # api/docs_pages.py serves /docs from this instance, within the CSP
        redoc_url=None,
    )
    app.state.runtime = runtime
    _install_error_handlers(app)
    # Outermost last: request ID and metrics, security headers, the customer's language, the body
    # read whole (so a slow client waits for no slot and holds none), the slots, then the 500 page.
    app.add_middleware(UnhandledErrorMiddleware, handler=app.exception_handlers[Exception])
    app.add_middleware(AdmissionMiddleware, admission=admission_of(runtime))
    app.add_middleware(
        RequestBodyMiddleware,
        timeout=settings.request_body_timeout_seconds,
        idle_timeout=settings.request_body_idle_timeout_seconds,
        max_bytes_by_path=PORTAL_BODY_LIMITS,
    )
    app.add_middleware(
        LanguageMiddleware, secure=not settings.is_development, translated=is_customer_path
    )
    app.add_middleware(SecurityHeadersMiddleware, production=not settings.is_development)
    app.add_middleware(RequestContextMiddleware, metrics=runtime.metrics)
    # The customer journey first: its landing page, for link names no other route can have (see
    # connect/pages.py), then its other steps; routes are tried in order, and these are busiest.
    app.include_router(landing_router)
    app.include_router(journey_router)
    app.include_router(terms_router)
    app.include_router(utility_start_router)
    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "connect" / "static"), name="static")
    app.include_router(ops_router)
    for router in PARTNER_API_ROUTERS:
        app.include_router(router)
    app.include_router(utilityapi_webhooks_router)
    app.include_router(portal_router)
    if settings.sandbox:
        app.include_router(sandbox_router(settings))
    for router in extra_routers:
        app.include_router(router)
    app.include_router(_unknown_api_paths())
    # Last: here the landing page's route matches any two path segments.
    app.include_router(any_link_router)
    return app


def runtime_of_app(app: FastAPI) -> Runtime:
    """The runtime `create_app` built for `app` (for a worker or a test in the same process)."""
    runtime: Runtime = app.state.runtime
    return runtime


def _unknown_api_paths() -> APIRouter:
    """A 404 problem for /v2 paths of two segments no operation has, which the landing page's
    catch-all, tried after it, would answer as a mistyped partner link ("We could not find this
    partner"). Only its methods, GET and POST: another method on such a path stays a 405."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/v2/{name}", methods=["GET", "POST"])
    @router.api_route("/v2/{name}/", methods=["GET", "POST"])
    async def no_such_operation(name: str) -> Response:
        raise StarletteHTTPException(404)

    return router


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LeapConnectError)
    async def expected_error(request: Request, error: LeapConnectError) -> Response:
        if is_customer_path(request.url.path):
            return await customer_error(
                request,
                error.status_code,
                error.detail,
                type_slug=error.type_slug,
                headers=error.headers,
            )
        return error_response(
            request,
            error.status_code,
            error.title,
            error.detail,
            type_slug=error.type_slug,
            errors=error.errors,
            headers=error.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        title = _STATUS_TITLES.get(error.status_code, "Error")
        detail = str(error.detail) if error.detail else title
        if is_customer_path(request.url.path):
            page_detail = _PAGE_MESSAGES.get(error.status_code, detail)
            return await customer_error(
                request, error.status_code, page_detail, headers=dict(error.headers or {})
            )
        if error.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
            detail = API_NOT_FOUND  # no route has this path (a route's own 404 says more)
        return error_response(
            request,
            error.status_code,
            title,
            detail,
            headers=error.headers,
            page_message=_PAGE_MESSAGES.get(error.status_code, detail),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        # A message or a dict key in `loc` may quote a lone surrogate the caller sent, which
        # nothing can encode: write it as an escape so the answer is a 422, not a 500.
        errors = [
            {
                "field": displayable(
                    ".".join(str(part) for part in item.get("loc", ()) if part != "body")
                ),
                "message": displayable(str(item.get("msg", "invalid"))),
            }
            for item in error.errors()
        ]
        if is_api_path(request.url.path):
            return problem_response(
                422, "Validation failed", "The request is not valid.", errors=errors
            )
        if is_customer_path(request.url.path):
            # A customer's address that does not parse (a cut-off session ID) leads nowhere.
            return await customer_error(request, 404, "")
        details = [f"{item['field']}: {item['message']}" for item in errors]
        return error_page(
            request,
            400,
            "Something is wrong with this request",
            "Please check it.",
            details=details,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    # asyncpg raises ConnectionRefusedError (and other ConnectionErrors) unwrapped when a new
    # connection cannot be opened, e.g. while PostgreSQL restarts; SQLAlchemy only wraps DBAPI
    # errors. Utility calls turn theirs into ConnectorError, so one reaching here is the database.
    @app.exception_handler(ConnectionError)
    # Every pooled connection busy for pool_timeout (30 s): overloaded, so "try again", not a 500.
    @app.exception_handler(PoolTimeoutError)
    async def database_unavailable(request: Request, error: Exception) -> Response:
        if refused_text(error):
            # Text the database cannot store (a NUL, an unencodable character) that slipped past
            # validation: the caller's mistake, not an outage, so no Retry-After and no alert.
            log.warning("database_refused_text", error=type(error).__name__)
            if is_customer_path(request.url.path):
                return await customer_error(request, 400, CUSTOMER_REFUSED_TEXT)
            return error_response(request, 400, "Bad request", REFUSED_TEXT)
        log.warning("database_unavailable", error=type(error).__name__)
        detail = "The service is briefly unavailable. Please try again in a few seconds."
        if is_customer_path(request.url.path):  # no brand: the database is what is down
            return await customer_error(
                request, 503, detail, headers={"Retry-After": "5"}, find_partner=False
            )
        return error_response(
            request, 503, "Service unavailable", detail, headers={"Retry-After": "5"}
        )

    @app.exception_handler(UnicodeEncodeError)
    async def unencodable_text(request: Request, error: UnicodeEncodeError) -> Response:
        log.warning("unencodable_text", error=type(error).__name__)
        if is_customer_path(request.url.path):
            return await customer_error(request, 400, CUSTOMER_REFUSED_TEXT)
        return error_response(request, 400, "Bad request", REFUSED_TEXT)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> Response:
        log.exception("unhandled_error", error=type(error).__name__)
        detail = "Something went wrong on our side. It has been logged; please try again."
        if is_customer_path(request.url.path):
            return await customer_error(request, 500, detail)
        return error_response(request, 500, "Internal server error", detail)


async def customer_error(
    request: Request,
    status: int,
    detail: str,
    *,
    type_slug: str | None = None,
    headers: dict[str, str] | None = None,
    find_partner: bool = True,
) -> Response:
    """A journey error as its customer sees it: in the brand of the partner the address names,
    in plain words (customer_words), with the way to contact the partner."""
    owner = None
    if find_partner:
        owner = await owner_of_path(runtime_of_app(request.app).sessionmaker, request.url.path)
    organization = owner.organization if owner else None
    title, message = customer_words(
        status,
        detail,
        type_slug=type_slug,
        partner=organization.display_name if organization else None,
    )
    return customer_error_page(
        request, status, title, message, organization=organization, headers=headers
    )


REFUSED_TEXT = "The request holds text that cannot be stored: a NUL, control or invalid character."
CUSTOMER_REFUSED_TEXT = N_(
    "Something you typed holds a character we cannot store. "
    "Please check what you entered, then try again."
)

# What PostgreSQL (through asyncpg) says when text holds a NUL or a character it cannot encode.
_REFUSED_TEXT_ERRORS = ("CharacterNotInRepertoireError", "UntranslatableCharacterError")
_REFUSED_TEXT_MESSAGES = ("invalid byte sequence", "unsupported unicode escape sequence")


def refused_text(error: BaseException) -> bool:
    """Whether a database error is its refusing the text it was given, not its being down."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, UnicodeEncodeError) or type(current).__name__ in (
            _REFUSED_TEXT_ERRORS
        ):
            return True
        # The wrapper's text quotes the statement's parameters, which the caller chose.
        if not isinstance(current, StatementError) and any(
            message in str(current) for message in _REFUSED_TEXT_MESSAGES
        ):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


_STATUS_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
}

_PAGE_MESSAGES = {
    404: N_("We could not find this page. Please check the link you were given."),
    405: N_("This page cannot be used that way."),
}
