"""The customer journey's pages: landing, session page, utility callback and the finish redirect."""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.convertors import StringConvertor, register_url_convertor

from leap_connect.connect import authorizations, service, terms
from leap_connect.connect.branding import customer_error_page, session_owner
from leap_connect.connect.browser import (
    binding_of,
    browser_of,
    checked_form,
    csrf_for,
    session_view_of,
)
from leap_connect.connect.link_opens import count_link_open
from leap_connect.connect.link_targets import link_target_cache
from leap_connect.connect.links import customer_link_problem
from leap_connect.connect.progress import journey_steps
from leap_connect.connect.service import (
    BadLink,
    CustomerFormInvalid,
    JourneyRefused,
    Landing,
    LinkTarget,
)
from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.esign import service as esign
from leap_connect.kit.colours import brand_palette
from leap_connect.kit.csrf import (
    csrf_token,
    ensure_browser_id,
    set_browser_cookie,
)
from leap_connect.kit.i18n import N_, _
from leap_connect.kit.link_rules import RESERVED_NAMES, URL_NAME
from leap_connect.kit.problems import NotFound
from leap_connect.kit.templating import templates
from leap_connect.models import Organization
from leap_connect.runtime import Runtime
from leap_connect.utilities.registry import UTILITIES_BY_ID

# The journey's routers, in the order the app tries them: see app.py and the landing page below.
landing_router = APIRouter(include_in_schema=False)
router = APIRouter(include_in_schema=False)
any_link_router = APIRouter(include_in_schema=False)
log = structlog.get_logger("leap_connect.connect")

HEX = re.compile(r"^[0-9a-fA-F]{6}$")
# How often the session page checks again while a utility is still sending meters.
REFRESH_SECONDS = 10


@router.get("/brand/{color}.css")
async def brand_stylesheet(color: str) -> Response:
    """The partner's colour as CSS, since the Content-Security-Policy forbids inline styles: the
    shades of it that reach WCAG AA contrast (kit/colours.py), for buttons, text and focus."""
    if not HEX.match(color):
        raise NotFound(N_("We could not find this page."))
    palette = brand_palette(f"#{color}")
    return Response(
        ":root {"
        f" --brand: {palette.surface}; --on-brand: {palette.on_surface};"
        f" --brand-ink: {palette.on_white}; --focus: {palette.on_white};"
        " }\n",
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400"},
    )


# --- session page and callback ------------------------------------------------------------------


@router.get("/connect/sessions/{connect_session_id}")
async def session_page(
    request: Request, connect_session_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep
) -> Response:
    browser = browser_of(request, runtime)
    view = await session_view_of(request, session, runtime, connect_session_id)
    waiting = any(row.finishing or row.meters_pending for row in view.rows)
    stopped = request.query_params.get("refresh") == "off"
    return _render_session(
        request,
        runtime,
        view,
        browser,
        has_terms=await _has_terms(session, view),
        refresh_seconds=REFRESH_SECONDS if waiting and not stopped else None,
        refresh_stopped=waiting and stopped,
    )


@router.post("/connect/sessions/{connect_session_id}")
async def session_action(
    request: Request, connect_session_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep
) -> Response:
    browser = browser_of(request, runtime)
    form = await checked_form(request, runtime, browser)
    view = await session_view_of(request, session, runtime, connect_session_id)
    if view.connect_session.status in ("COMPLETED", "CLOSED") and form.get("action") != "continue":
        raise JourneyRefused(
            "This sign-up is finished. Open the link you were given to start again."
        )
    utility_id = str(form.get("utility_id", ""))
    offered = view.connect_session.requested_utility_ids or view.flow.utility_ids
    if utility_id and utility_id not in offered:
        service.touch(view.connect_session)
        message = _("Please choose one of the utilities listed here.")
        return _render_session(
            request,
            runtime,
            view,
            browser,
            has_terms=await _has_terms(session, view),
            message=message,
            status=400,
        )
    if utility_id:
        url = await authorizations.next_step_for_utility(
            session,
            runtime,
            connect_session=view.connect_session,
            flow=view.flow,
            utility_id=utility_id,
        )
        return RedirectResponse(url, status_code=303)
    if form.get("action") == "continue":
        try:
            thank_you = await service.finish(session, view, runtime.encryptor)
        except terms.TermsUnsigned as unsigned:  # the terms step comes next: its first document
            service.touch(view.connect_session)
            return RedirectResponse(unsigned.first_document_url, status_code=303)
        except JourneyRefused as refusal:
            service.touch(view.connect_session)
            return _render_session(
                request,
                runtime,
                view,
                browser,
                has_terms=await _has_terms(session, view),
                message=refusal.detail,
                status=400,
            )
        return RedirectResponse(thank_you, status_code=303)
    raise JourneyRefused(N_("Choose a utility to connect, or continue."))


@router.get("/connect/callback/{utility_id}")
async def utility_callback(request: Request, utility_id: str, runtime: RuntimeDep) -> Response:
    """Back from the utility: the authorization is finished in `authorizations.finish_callback`."""
    if utility_id not in UTILITIES_BY_ID:
        raise NotFound(
            N_(
                "We could not find this page. Please go back to the link you were given and "
                "choose your utility again."
            )
        )
    browser = browser_of(request, runtime)
    outcome = await authorizations.finish_callback(
        runtime,
        utility_id=utility_id,
        params=dict(request.query_params.items()),
        binding=binding_of(runtime, browser),
    )
    if isinstance(outcome, authorizations.RefusedCallback):
        if outcome.already_connected and outcome.connect_session_id:
            return _to_session(outcome.connect_session_id)
        owner = (
            await session_owner(runtime.sessionmaker, outcome.connect_session_id)
            if outcome.connect_session_id
            else None
        )
        again = _("For your security, please start the connection again.")
        return customer_error_page(
            request,
            400,
            _("We could not complete this connection"),
            f"{_(outcome.reason)} {again}",
            organization=owner.organization if owner else None,
            actions=_session_actions(outcome.connect_session_id),
            csrf_token=csrf_for(runtime, browser),
        )
    if isinstance(outcome, authorizations.FailedCallback):
        log.info("authorization_failed", utility_id=utility_id, code=outcome.failure.code)
        return await _failure_page(request, runtime, browser, utility_id, outcome)
    if isinstance(outcome, authorizations.KeptCallback):
        # The grant is kept; the session page shows it finishing until its job records it.
        log.warning("authorization_kept_not_recorded", utility_id=utility_id)
        return _to_session(outcome.claimed.connect_session_id)
    log.info("authorization_completed", utility_id=utility_id, meters=len(outcome.meters))
    return _to_session(outcome.claimed.connect_session_id)


# --- landing page --------------------------------------------------------------------------------
# Each landing route is registered twice. On `landing_router`, which the app tries before any other
# router, it matches only names an organization and a flow can have (and no first segment the app
# reserves for itself), so the busiest page skips matching some 70 other routes. On
# `any_link_router`, tried last, it matches any two segments, so a mistyped link still gets the
# friendly "not found" page.

# Path segments that can name a flow, and an organization: the landing page's route can then be
# tried before the app's other routes, since it cannot take their paths.
_URL_NAME = URL_NAME.pattern.removeprefix("^").removesuffix("$")
_RESERVED = "|".join(re.escape(name) for name in sorted(RESERVED_NAMES))


class FlowNameConvertor(StringConvertor):
    regex = _URL_NAME


class PartnerNameConvertor(StringConvertor):
    regex = f"(?!(?:{_RESERVED})/){_URL_NAME}"


register_url_convertor("partner_name", PartnerNameConvertor())
register_url_convertor("flow_name", FlowNameConvertor())
LANDING_PATH = "/{org_name:partner_name}/{url_friendly_title:flow_name}"


def _landing_or_bad_link_page(request: Request, target: LinkTarget) -> Landing | Response:
    """The landing page the link asks for, or the page saying the link is broken."""
    requested_values = request.query_params.getlist("requestedUtilities")
    try:
        return service.landing_for(
            target,
            requested_values=requested_values,
            ref_values=request.query_params.getlist("refId"),
        )
    except BadLink:
        return _bad_link_page(
            request, target.organization, target.flow.utility_ids, requested_values
        )


@landing_router.get(LANDING_PATH)
@landing_router.get(LANDING_PATH + "/")
@any_link_router.get("/{org_name}/{url_friendly_title}")
@any_link_router.get("/{org_name}/{url_friendly_title}/")
async def landing_page(
    request: Request, org_name: str, url_friendly_title: str, runtime: RuntimeDep
) -> Response:
    # From memory for a few seconds (link_targets.py): showing the page reads and writes nothing.
    target = await link_target_cache(runtime).get(org_name, url_friendly_title)
    landing = _landing_or_bad_link_page(request, target)
    if isinstance(landing, Response):
        return landing
    browser, is_new = ensure_browser_id(request, development=runtime.settings.is_development)
    count_link_open(  # in memory, saved within seconds
        runtime,
        landing.flow,
        client_address=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        browser_id=browser,
    )
    response = _render_landing(request, runtime, landing, browser)
    if is_new:
        set_browser_cookie(response, browser, development=runtime.settings.is_development)
    return response


@landing_router.post(LANDING_PATH)
@landing_router.post(LANDING_PATH + "/")
@any_link_router.post("/{org_name}/{url_friendly_title}")
@any_link_router.post("/{org_name}/{url_friendly_title}/")
async def landing_submit(
    request: Request,
    org_name: str,
    url_friendly_title: str,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    browser = browser_of(request, runtime)
    form = await checked_form(request, runtime, browser)
    assert browser is not None
    target = await service.find_link_target(
        session, org_name=org_name, url_friendly_title=url_friendly_title
    )
    landing = _landing_or_bad_link_page(request, target)
    if isinstance(landing, Response):
        return landing
    values = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    utility_id = values.get("utility_id", "").strip().lower()
    offered = {utility.utility_id for utility in landing.available_utilities}
    try:
        details = service.read_customer_form(landing.flow, values)
    except CustomerFormInvalid as invalid:
        return _render_landing(request, runtime, landing, browser, values, invalid.errors, 400)
    if utility_id and utility_id not in offered:
        errors = {"utility_id": N_("Choose one of the utilities listed here.")}
        return _render_landing(request, runtime, landing, browser, values, errors, 400)
    connect_session = await service.open_connect_session(
        session,
        landing=landing,
        binding=service.browser_binding(runtime.secret_key, browser),
        details=details,
    )
    url = await authorizations.next_step_for_utility(
        session, runtime, connect_session=connect_session, flow=landing.flow, utility_id=utility_id
    )
    return RedirectResponse(url, status_code=303)


# --- helpers -------------------------------------------------------------------------------------


def _bad_link_page(
    request: Request,
    organization: Organization,
    offered: list[str],
    requested_values: list[str],
) -> HTMLResponse:
    """A link that does not parse, in the partner's brand, saying what to do without quoting it."""
    title, message = customer_link_problem(
        requested_values, offered=offered, partner=organization.display_name
    )
    return customer_error_page(request, 400, title, message, organization=organization)


async def _has_terms(session: Any, view: service.SessionView) -> bool:
    types = await esign.customer_types_with_terms(session, view.flow.id)
    return view.connect_session.customer_type in types


def _to_session(connect_session_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/connect/sessions/{connect_session_id}", status_code=303)


def _session_actions(connect_session_id: uuid.UUID | None) -> list[dict[str, Any]]:
    if connect_session_id is None:
        return []
    url = f"/connect/sessions/{connect_session_id}"
    return [{"label": _("Back to your connections"), "url": url}]


def _render_landing(
    request: Request,
    runtime: Runtime,
    landing: Landing,
    browser: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    commercial_only = landing.flow.customer_types == ["commercial"]
    return templates().TemplateResponse(
        request,
        "landing.html",
        {
            "organization": landing.organization,
            "brand_color": landing.organization.brand_color,
            "customer_types": landing.flow.customer_types,
            "utilities": landing.available_utilities,
            "requested": landing.requested_utilities,
            "show_required": commercial_only,
            "has_terms": bool(landing.terms_customer_types),
            "terms_customer_types": landing.terms_customer_types,
            "terms_first": landing.flow.terms_before_authorization,
            "steps": journey_steps(
                has_terms=bool(landing.terms_customer_types),
                terms_first=landing.flow.terms_before_authorization,
                current="details",
            ),
            "form_action": request.url.path
            + (f"?{request.url.query}" if request.url.query else ""),
            "csrf_token": csrf_token(runtime.secret_key, browser),
            "values": values or {},
            "errors": errors or {},
        },
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _render_session(
    request: Request,
    runtime: Runtime,
    view: service.SessionView,
    browser: str | None,
    *,
    has_terms: bool,
    message: str | None = None,
    status: int = 200,
    refresh_seconds: int | None = None,
    refresh_stopped: bool = False,
) -> HTMLResponse:
    headers = {"Cache-Control": "no-store"}
    if refresh_seconds:
        # Checks again without JavaScript; the page shows the countdown and a way to stop it.
        headers["Refresh"] = str(refresh_seconds)
    return templates().TemplateResponse(
        request,
        "session.html",
        {
            "view": view,
            "organization": view.organization,
            "brand_color": view.organization.brand_color,
            "csrf_token": csrf_for(runtime, browser),
            "message": message,
            "refresh_seconds": refresh_seconds,
            "refresh_stopped": refresh_stopped,
            "steps": journey_steps(
                has_terms=has_terms,
                terms_first=view.flow.terms_before_authorization,
                current="done"
                if view.can_continue and (not has_terms or view.flow.terms_before_authorization)
                else "utility",
            ),
        },
        status_code=status,
        headers=headers,
    )


# Failures the customer can put right (UtilityAPI's form reports these): what happened, what to do.
_CUSTOMER_CAN_FIX = {
    "access_invalid": (
        N_("%(utility)s did not accept your account details"),
        N_(
            "The account details you entered for %(utility)s were not accepted, so nothing was "
            "shared. Check them against a recent bill or your online account, then try again."
        ),
    ),
    "access_locked": (
        N_("Your %(utility)s online account is locked"),
        N_(
            "%(utility)s has locked your online account, usually after several sign-in attempts "
            "with a wrong password. Unlock it or reset your password on the website of "
            "%(utility)s, then try again."
        ),
    ),
    "access_unsupported": (
        N_("This %(utility)s account cannot be connected here"),
        N_(
            "%(utility)s does not share data for this kind of account through the authorization "
            "form. Try another of your accounts, or contact the company that sent you this link."
        ),
    ),
    "wrong_utility": (
        N_("You authorized a different utility"),
        N_(
            "On the authorization form you chose another utility than %(utility)s, so nothing "
            "was connected. Try again and choose %(utility)s there."
        ),
    ),
}


async def _failure_page(
    request: Request,
    runtime: Runtime,
    browser: str | None,
    utility_id: str,
    failed: authorizations.FailedCallback,
) -> HTMLResponse:
    utility = UTILITIES_BY_ID[utility_id]
    named = {"utility": utility.customer_name}
    failure = failed.failure
    owner = await session_owner(runtime.sessionmaker, failed.claimed.connect_session_id)
    session_url = f"/connect/sessions/{failed.claimed.connect_session_id}"
    actions: list[dict[str, Any]] = [
        {
            "label": _("Try %(utility)s again") % named,
            "url": session_url,
            "form": {},
            "button": ("utility_id", utility_id),
            "busy": _("Connecting to %(utility)s…") % named,
        }
    ]
    # A link for one utility has no other to choose: that would only offer the same one again.
    others = [u for u in (owner.offered_utility_ids if owner else ()) if u != utility_id]
    if others:
        actions.append({"label": _("Choose another utility"), "url": session_url})
        instead = _("You can try again, or choose another utility.")
    else:
        actions.append({"label": _("Back to your sign-up"), "url": session_url})
        instead = _("You can try again.")
    if failure.code == "access_denied":
        title = _("You declined to share your data")
        message = _("You chose not to share your data at %(utility)s. Nothing was shared.") % named
        message = f"{message} {instead}"
        status = 200
    elif failure.code in _CUSTOMER_CAN_FIX:
        title, message = (_(text) % named for text in _CUSTOMER_CAN_FIX[failure.code])
        status = 200
    elif failure.retryable:
        title = _("%(utility)s is not answering right now") % named
        message = (
            _(
                "We could not finish connecting to %(utility)s because it did not respond. "
                "This is usually temporary. Please try again in a minute."
            )
            % named
        )
        status = 503
    else:
        title = _("We could not complete this connection")
        message = _("%(utility)s could not share your data this time. Nothing was shared.") % named
        message = f"{message} {instead}"
        status = 502
    return customer_error_page(
        request,
        status,
        title,
        message,
        organization=owner.organization if owner else None,
        actions=actions,
        csrf_token=csrf_for(runtime, browser),
    )
