"""Recording a change in the audit log, in the transaction of the change itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import AuditLogEntry, utc_now


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: an API key or a portal user, by ID."""

    type: Literal["api_key", "user", "system"]
    id: str | None


def record_change(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditLogEntry:
    entry = AuditLogEntry(
        organization_id=organization_id,
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        created_at=utc_now(),
    )
    session.add(entry)
    return entry
