"""The Developers tab (admins only): API keys, webhook endpoints and their delivery logs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from leap_connect.deps import RuntimeDep, SessionDep
from leap_connect.kit.csrf import checked_form
from leap_connect.kit.problems import Conflict, ValidationFailed
from leap_connect.models import ApiKey, WebhookEndpoint
from leap_connect.organizations import service as organizations_service
from leap_connect.organizations.service import API_KEY_SCOPES
from leap_connect.portal import activity, developer_settings, insights
from leap_connect.portal.auth import PortalCaller
from leap_connect.portal.deps import AdminDep
from leap_connect.portal.developer_settings import EVENT_TYPES, EndpointInvalid
from leap_connect.portal.pages.layout import (
    PageRouter,
    confirmation_page,
    confirmed,
    form_text,
    form_texts,
    render,
)
from leap_connect.runtime import Runtime
from leap_connect.webhooks import service as webhooks_service

router = PageRouter()

DEVELOPERS_PATH = "/portal/developers"
WEBHOOK_NOTICES = {
    "ping": "A ping event is on its way to this endpoint; it shows in the log below.",
    "redeliver": "The delivery is being sent again.",
    "busy": "That delivery is still pending: it is attempted again on its schedule.",
    "updated": "The endpoint's settings are saved.",
}


@dataclass(frozen=True)
class EndpointPost:
    """A form an admin posted about one webhook endpoint: its CSRF token checked, its ID read."""

    caller: PortalCaller
    endpoint_id: uuid.UUID
    form: FormData


async def _endpoint_post(request: Request, endpoint_id: str, caller: AdminDep) -> EndpointPost:
    form = await checked_form(request, caller.csrf_token)
    return EndpointPost(caller, _endpoint_uuid(endpoint_id), form)


EndpointPostDep = Annotated[EndpointPost, Depends(_endpoint_post)]


# --- the tab and API keys -----------------------------------------------------------------------


@router.tab("/developers", "Developers", admin_only=True)
async def developers_tab(
    request: Request, caller: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    return await _render_developers(request, caller, session)


@router.post("/developers/api-keys")
async def create_api_key(
    request: Request, caller: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    form = await checked_form(request, caller.csrf_token)
    name = form_text(form, "name").strip()[:200] or "API key"
    try:
        issued = await organizations_service.create_api_key(
            session,
            runtime.secret_key,
            organization=caller.organization,
            scopes=form_texts(form, "scope"),
            name=name,
        )
    except ValidationFailed as invalid:
        errors = {"scope": str(invalid.detail)}
        return await _render_developers(request, caller, session, {"errors": errors}, status=400)
    _record(
        caller, session, "api_key.created", "api_key", issued.api_key.id, after=_key(issued.api_key)
    )
    return await _render_developers(
        request, caller, session, {"new_token": issued.token, "new_key": issued.api_key}
    )


@router.post("/developers/api-keys/{api_key_id}/revoke")
async def revoke_api_key(
    request: Request, api_key_id: str, caller: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    form = await checked_form(request, caller.csrf_token)
    key_id = insights.parse_uuid(api_key_id, "API key")
    if not confirmed(form):
        api_key = await developer_settings.get_api_key(session, caller.organization.id, key_id)
        return confirmation_page(request, caller, "revoke_key", api_key, DEVELOPERS_PATH)
    await developer_settings.revoke_api_key(
        session, runtime.broadcast, caller.organization.id, key_id
    )
    api_key = await developer_settings.get_api_key(session, caller.organization.id, key_id)
    _record(caller, session, "api_key.revoked", "api_key", key_id, before=_key(api_key))
    return RedirectResponse(DEVELOPERS_PATH, status_code=303)


def _key(api_key: ApiKey) -> dict[str, Any]:
    return {"name": api_key.name, "token_hint": api_key.token_hint, "scopes": api_key.scopes}


def _endpoint(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
    }


def _record(
    caller: PortalCaller,
    session: SessionDep,
    action: str,
    object_type: str,
    object_id: uuid.UUID,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    activity.record_portal_change(
        session,
        organization_id=caller.organization.id,
        user_id=caller.user.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
    )


@router.get("/developers/activity")
async def activity_page(request: Request, caller: AdminDep, session: SessionDep) -> Response:
    """Who changed which reference, API key or webhook endpoint, and when."""
    before = _moment(request.query_params.get("before"))
    found = await activity.activity(session, caller.organization.id, before=before)
    older_url = (
        f"{DEVELOPERS_PATH}/activity?" + urlencode({"before": found.older_than.isoformat()})
        if found.older_than
        else None
    )
    return render(
        request, caller, "portal/activity.html", {"lines": found.lines, "older_url": older_url}
    )


def _moment(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


async def _render_developers(
    request: Request,
    caller: PortalCaller,
    session: SessionDep,
    values: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    organization_id = caller.organization.id
    return render(
        request,
        caller,
        "portal/developers.html",
        {
            "api_keys": await developer_settings.list_api_keys(session, organization_id),
            "scopes": API_KEY_SCOPES,
            "endpoints": await webhooks_service.list_endpoints(
                session, organization_id=organization_id
            ),
            "event_types": EVENT_TYPES,
            "new_token": None,
            "new_secret": None,
            "errors": {},
            "notice": None,
            **(values or {}),
        },
        status=status,
    )


# --- webhook endpoints --------------------------------------------------------------------------


@router.post("/developers/webhooks")
async def create_webhook_endpoint(
    request: Request, caller: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    form = await checked_form(request, caller.csrf_token)
    url = form_text(form, "url").strip()
    try:
        endpoint, secret = await developer_settings.create_webhook_endpoint(
            session,
            runtime.encryptor,
            organization_id=caller.organization.id,
            url=url,
            event_types=[t for t in form_texts(form, "event_type") if t in EVENT_TYPES],
            development=runtime.settings.is_development,
        )
    except EndpointInvalid as invalid:
        values = {"errors": invalid.errors, "typed_url": url}
        return await _render_developers(request, caller, session, values, status=400)
    _record(
        caller,
        session,
        "webhook_endpoint.created",
        "webhook_endpoint",
        endpoint.id,
        after=_endpoint(endpoint),
    )
    return await _render_developers(
        request, caller, session, {"new_secret": secret, "new_endpoint": endpoint}
    )


@router.get("/developers/webhooks/{endpoint_id}")
async def webhook_endpoint_page(
    request: Request,
    endpoint_id: str,
    caller: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    notice = WEBHOOK_NOTICES.get(request.query_params.get("done", ""))
    return await _render_webhook_endpoint(
        request, caller, session, runtime, _endpoint_uuid(endpoint_id), {"notice": notice}
    )


@router.post("/developers/webhooks/{endpoint_id}/test")
async def test_webhook_endpoint(posted: EndpointPostDep, session: SessionDep) -> Response:
    await webhooks_service.send_test_event(
        session, organization_id=posted.caller.organization.id, endpoint_id=posted.endpoint_id
    )
    return _back_to_endpoint(posted.endpoint_id, done="ping")


@router.post("/developers/webhooks/{endpoint_id}/delete")
async def delete_webhook_endpoint(
    request: Request, posted: EndpointPostDep, session: SessionDep
) -> Response:
    endpoint = await _posted_endpoint(posted, session)
    if not confirmed(posted.form):
        return confirmation_page(
            request, posted.caller, "delete_endpoint", endpoint, _endpoint_path(endpoint.id)
        )
    before = _endpoint(endpoint)
    await webhooks_service.delete_endpoint(
        session, organization_id=posted.caller.organization.id, endpoint_id=posted.endpoint_id
    )
    _record(
        posted.caller,
        session,
        "webhook_endpoint.deleted",
        "webhook_endpoint",
        posted.endpoint_id,
        before=before,
    )
    return RedirectResponse(DEVELOPERS_PATH, status_code=303)


@router.post("/developers/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver_webhook(
    posted: EndpointPostDep, delivery_id: str, session: SessionDep
) -> Response:
    try:
        await webhooks_service.redeliver(
            session,
            organization_id=posted.caller.organization.id,
            endpoint_id=posted.endpoint_id,
            delivery_id=insights.parse_uuid(delivery_id, "delivery"),
        )
    except Conflict:
        return _back_to_endpoint(posted.endpoint_id, done="busy")
    return _back_to_endpoint(posted.endpoint_id, done="redeliver")


@router.post("/developers/webhooks/{endpoint_id}/edit")
async def edit_webhook_endpoint(
    request: Request, posted: EndpointPostDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    url = form_text(posted.form, "url").strip()
    event_types = [t for t in EVENT_TYPES if t in form_texts(posted.form, "event_type")]
    enabled = form_text(posted.form, "enabled") == "on"
    before = _endpoint(await _posted_endpoint(posted, session))
    try:
        updated = await developer_settings.update_webhook_endpoint(
            session,
            organization_id=posted.caller.organization.id,
            endpoint_id=posted.endpoint_id,
            url=url,
            event_types=event_types,
            enabled=enabled,
            development=runtime.settings.is_development,
        )
    except EndpointInvalid as invalid:
        typed = {"url": url, "event_types": event_types, "enabled": enabled}
        values = {"errors": invalid.errors, "typed": typed}
        return await _render_webhook_endpoint(
            request, posted.caller, session, runtime, posted.endpoint_id, values, status=400
        )
    if _endpoint(updated) != before:
        _record(
            posted.caller,
            session,
            "webhook_endpoint.updated",
            "webhook_endpoint",
            posted.endpoint_id,
            before=before,
            after=_endpoint(updated),
        )
    return _back_to_endpoint(posted.endpoint_id, done="updated")


@router.post("/developers/webhooks/{endpoint_id}/rotate-secret")
async def rotate_webhook_secret(
    request: Request, posted: EndpointPostDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    endpoint = await _posted_endpoint(posted, session)
    if not confirmed(posted.form):
        return confirmation_page(
            request, posted.caller, "rotate_secret", endpoint, _endpoint_path(endpoint.id)
        )
    secret, expires_at = await webhooks_service.rotate_secret(
        session,
        runtime.encryptor,
        organization_id=posted.caller.organization.id,
        endpoint_id=posted.endpoint_id,
    )
    _record(
        posted.caller,
        session,
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint",
        posted.endpoint_id,
        after={"url": endpoint.url},
    )
    values = {"rotated_secret": secret, "rotated_until": expires_at}
    return await _render_webhook_endpoint(
        request, posted.caller, session, runtime, posted.endpoint_id, values
    )


async def _render_webhook_endpoint(
    request: Request,
    caller: PortalCaller,
    session: SessionDep,
    runtime: Runtime,
    endpoint_id: uuid.UUID,
    values: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    endpoint = await webhooks_service.get_endpoint(
        session, organization_id=caller.organization.id, endpoint_id=endpoint_id
    )
    delivery_status = request.query_params.get("status") or None
    deliveries = await webhooks_service.list_deliveries(
        session,
        secret_key=runtime.secret_key,
        organization_id=caller.organization.id,
        endpoint_id=endpoint_id,
        page_size=insights.PAGE_SIZE,
        page_token=request.query_params.get("page_token") or None,
        status=delivery_status,
    )
    next_url = (
        f"{_endpoint_path(endpoint_id)}?"
        + urlencode(
            {
                **({"status": delivery_status} if delivery_status else {}),
                "page_token": deliveries.next_page_token,
            }
        )
        if deliveries.next_page_token
        else None
    )
    return render(
        request,
        caller,
        "portal/webhook_endpoint.html",
        {
            "endpoint": endpoint,
            "deliveries": deliveries.deliveries,
            "next_url": next_url,
            "notice": None,
            "event_types": EVENT_TYPES,
            "errors": {},
            "typed": {
                "url": endpoint.url,
                "event_types": list(endpoint.event_types),
                "enabled": endpoint.enabled,
            },
            "rotated_secret": None,
            "rotated_until": None,
            **(values or {}),
        },
        status=status,
    )


async def _posted_endpoint(posted: EndpointPost, session: SessionDep) -> WebhookEndpoint:
    return await webhooks_service.get_endpoint(
        session, organization_id=posted.caller.organization.id, endpoint_id=posted.endpoint_id
    )


def _endpoint_uuid(endpoint_id: str) -> uuid.UUID:
    return insights.parse_uuid(endpoint_id, "webhook endpoint")


def _endpoint_path(endpoint_id: uuid.UUID) -> str:
    return f"{DEVELOPERS_PATH}/webhooks/{endpoint_id}"


def _back_to_endpoint(endpoint_id: uuid.UUID, *, done: str) -> RedirectResponse:
    """To the endpoint's page, which says what was done (see `WEBHOOK_NOTICES`)."""
    return RedirectResponse(f"{_endpoint_path(endpoint_id)}?done={done}", status_code=303)
