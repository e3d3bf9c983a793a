"""Changing a meter's partner reference: checked like a link's `refId`, audited, and announced."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.audit.service import Actor, record_change
from leap_connect.kit.link_rules import REF_ID_MAX_LENGTH, LinkError, parse_ref_id
from leap_connect.kit.problems import ValidationFailed
from leap_connect.meters import repository
from leap_connect.meters.schemas import (
    BulkPartnerReferenceResults,
    MeterOut,
    PartnerReferenceResult,
    PartnerReferenceUpdateItem,
)
from leap_connect.meters.search import present, require_meter
from leap_connect.models import Meter, utc_now
from leap_connect.webhooks.events import record_event

EVENT_TYPE = "meter.partner_reference.updated"


class InvalidReference(ValueError):
    pass


def check_partner_reference(value: str) -> str:
    """The `refId` rule, 1–255 printable US-ASCII characters, in the words of this field."""
    try:
        reference = parse_ref_id(value)
    except LinkError as error:
        raise InvalidReference(error.message.replace("refId", "partner_reference", 1)) from None
    if reference is None:
        raise InvalidReference(
            f"partner_reference is empty; it must be 1–{REF_ID_MAX_LENGTH} printable ASCII "
            "characters."
        )
    return reference


@dataclass(frozen=True, slots=True)
class _Change:
    meter: Meter
    previous: str | None


async def update_partner_reference(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    meter_id: uuid.UUID,
    partner_reference: str,
    actor: Actor,
) -> MeterOut:
    try:
        reference = check_partner_reference(partner_reference)
    except InvalidReference as error:
        raise ValidationFailed(
            str(error), errors=[{"field": "partner_reference", "message": str(error)}]
        ) from None
    meter = await require_meter(session, organization_id, meter_id)
    change = _apply(session, meter, reference, actor)
    shown = await _present_and_announce(session, [meter], [change] if change else [])
    return shown[meter.id]


async def update_partner_references(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    updates: Sequence[PartnerReferenceUpdateItem],
    actor: Actor,
) -> BulkPartnerReferenceResults:
    """Each update on its own: a bad one fails alone and leaves its meter as it was."""
    meter_ids = [_meter_id(update.meter_id) for update in updates]
    meters = await repository.get_meters(
        session, organization_id, {meter_id for meter_id in meter_ids if meter_id}
    )
    outcomes: list[tuple[str, str, str | None, Meter | None]] = []
    changes: list[_Change] = []
    for update, meter_id in zip(updates, meter_ids, strict=True):
        meter = meters.get(meter_id) if meter_id else None
        if meter_id is None:
            outcomes.append((update.meter_id, "invalid", "meter_id is not a meter ID.", None))
            continue
        if meter is None:
            outcomes.append((update.meter_id, "not_found", "There is no meter with this ID.", None))
            continue
        try:
            reference = check_partner_reference(update.partner_reference)
        except InvalidReference as error:
            outcomes.append((update.meter_id, "invalid", str(error), None))
            continue
        change = _apply(session, meter, reference, actor)
        if change:
            changes.append(change)
        outcomes.append((update.meter_id, "updated" if change else "unchanged", None, meter))
    shown = await _present_and_announce(
        session, [meter for *_, meter in outcomes if meter is not None], changes
    )
    results = [
        PartnerReferenceResult(
            meter_id=given, status=status, detail=detail, meter=shown[meter.id] if meter else None
        )
        for given, status, detail, meter in outcomes
    ]
    return BulkPartnerReferenceResults(
        results=results,
        updated_count=sum(result.status == "updated" for result in results),
        unchanged_count=sum(result.status == "unchanged" for result in results),
        failed_count=sum(result.status in ("invalid", "not_found") for result in results),
    )


def _meter_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def _apply(session: AsyncSession, meter: Meter, reference: str, actor: Actor) -> _Change | None:
    previous = meter.partner_reference
    if previous == reference:
        return None
    meter.partner_reference = reference
    meter.updated_at = utc_now()
    record_change(
        session,
        organization_id=meter.organization_id,
        actor=actor,
        action=EVENT_TYPE,
        object_type="meter",
        object_id=str(meter.id),
        before={"partner_reference": previous},
        after={"partner_reference": reference},
    )
    return _Change(meter, previous)


async def _present_and_announce(
    session: AsyncSession, meters: Sequence[Meter], changes: Sequence[_Change]
) -> dict[uuid.UUID, MeterOut]:
    await session.flush()
    unique = list({meter.id: meter for meter in meters}.values())
    shown = {out.meter_id: out for out in await present(session, unique)}
    for change in changes:
        await record_event(
            session,
            organization_id=change.meter.organization_id,
            event_type=EVENT_TYPE,
            payload={
                "meter": shown[change.meter.id].model_dump(mode="json"),
                "previous_partner_reference": change.previous,
            },
        )
    return shown
