"""The audit view: who changed which reference, API key or webhook endpoint, and when.

Reads the audit log the changes write in their own transactions (`audit/service.py`), and says
each entry in a sentence, naming the person (a portal user's e-mail, an API key's name), not an ID.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.audit.service import Actor, record_change
from leap_connect.models import AuditLogEntry
from leap_connect.portal import repository

SHOWN_ENTRIES = 50


@dataclass(frozen=True)
class ActivityLine:
    at: datetime
    who: str
    what: str
    link: str | None
    code: str


@dataclass(frozen=True)
class Activity:
    lines: list[ActivityLine]
    older_than: datetime | None  # where the next page starts, when there may be one


def record_portal_change(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    action: str,
    object_type: str,
    object_id: uuid.UUID,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Note a change a portal user made, in the request's transaction."""
    record_change(
        session,
        organization_id=organization_id,
        actor=Actor(type="user", id=str(user_id)),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
    )


async def activity(
    session: AsyncSession, organization_id: uuid.UUID, *, before: datetime | None
) -> Activity:
    entries = await repository.list_audit_entries(
        session, organization_id, before=before, limit=SHOWN_ENTRIES
    )
    users = await repository.user_emails(
        session, organization_id, _ids(e.actor_id for e in entries if e.actor_type == "user")
    )
    keys = await repository.api_keys_by_id(
        session, organization_id, _ids(e.actor_id for e in entries if e.actor_type == "api_key")
    )

    def who(entry: AuditLogEntry) -> str:
        actor = _uuid(entry.actor_id)
        if entry.actor_type == "user":
            return users.get(actor, "A removed user") if actor else "A portal user"
        if entry.actor_type == "api_key":
            key = keys.get(actor) if actor else None
            return f"API key {key.name} ({key.token_hint})" if key else "An API key"
        return "Leap Connect"

    lines = [
        ActivityLine(entry.created_at, who(entry), describe(entry), link(entry), entry.action)
        for entry in entries
    ]
    older = entries[-1].created_at if len(entries) == SHOWN_ENTRIES else None
    return Activity(lines, older)


def describe(entry: AuditLogEntry) -> str:
    """One entry as a sentence."""
    before, after = entry.before or {}, entry.after or {}
    if entry.object_type == "meter" and "partner_reference" in after:
        was = before.get("partner_reference")
        now = after["partner_reference"]
        return (
            f"Changed a meter's Reference ID from {was} to {now}"
            if was
            else (f"Set a meter's Reference ID to {now}")
        )
    sentences = {
        "api_key.created": "Created the API key {name} ({token_hint})",
        "api_key.revoked": "Revoked the API key {name} ({token_hint})",
        "webhook_endpoint.created": "Added the webhook endpoint {url}",
        "webhook_endpoint.updated": "Changed the webhook endpoint {url}",
        "webhook_endpoint.deleted": "Deleted the webhook endpoint {url}",
        "webhook_endpoint.secret_rotated": "Rotated the signing secret of {url}",
    }
    sentence = sentences.get(entry.action)
    if sentence is None:
        return f"{entry.action.replace('.', ' ').replace('_', ' ').capitalize()}"
    return sentence.format_map(_Blank({**before, **after}))


def link(entry: AuditLogEntry) -> str | None:
    if entry.object_type == "meter":
        return f"/portal/meters/{entry.object_id}"
    if entry.object_type == "webhook_endpoint" and entry.action != "webhook_endpoint.deleted":
        return f"/portal/developers/webhooks/{entry.object_id}"
    return None


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _ids(values: Any) -> set[uuid.UUID]:
    return {found for value in values if (found := _uuid(value)) is not None}
