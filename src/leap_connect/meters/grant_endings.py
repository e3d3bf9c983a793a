"""What the meters side does when a grant ends: reports it, and announces its meters.

A grant ends in the journey's domain (`connect/lifecycle.py`), which sends the connect session's
event; news of an ending that arrives here (a UtilityAPI webhook, a utility refusing a data
request) is handed up as a job, since this layer cannot call the one above it.
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leap_connect.jobs.service import enqueue
from leap_connect.meters.service import meter_payload
from leap_connect.models import Meter
from leap_connect.webhooks.events import record_event

ENDED_JOB_KIND = "meters.authorization_ended"
Ending = Literal["REVOKED", "EXPIRED"]


async def report_grant_ended(
    session: AsyncSession, authorization_id: uuid.UUID, status: Ending
) -> None:
    """Have the grant marked `status` (and its events sent) as soon as a worker can; written when
    the caller commits, once however often the news comes."""
    await enqueue(
        session,
        kind=ENDED_JOB_KIND,
        payload={"authorization_id": str(authorization_id), "status": status},
        dedupe_key=f"{ENDED_JOB_KIND}:{authorization_id}",
    )


async def report_grant_ended_now(
    sessionmaker: async_sessionmaker[AsyncSession], authorization_id: uuid.UUID, status: Ending
) -> None:
    """The same, in a transaction of its own: for a request that fails after hearing it."""
    async with sessionmaker() as session, session.begin():
        await report_grant_ended(session, authorization_id, status)


async def announce_revoked_meter(session: AsyncSession, meter: Meter) -> None:
    """`meter.authorization.revoked`: the meter as the API shows it, its status now REVOKED."""
    await record_event(
        session,
        organization_id=meter.organization_id,
        event_type="meter.authorization.revoked",
        payload={"meter": await meter_payload(session, meter)},
    )
