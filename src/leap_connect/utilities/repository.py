"""Queries for utility authorizations as the utilities know them (by their own reference)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import UtilityAuthorization


async def list_authorizations_by_utility_ref(
    session: AsyncSession, *, utility_ids: Collection[str], utility_authorization_ref: str
) -> list[UtilityAuthorization]:
    """The attempts a utility's own authorization completed (one, unless a callback was replayed
    into another session)."""
    result = await session.execute(
        select(UtilityAuthorization)
        .where(
            UtilityAuthorization.utility_id.in_(list(utility_ids)),
            UtilityAuthorization.utility_authorization_ref == utility_authorization_ref,
        )
        .order_by(UtilityAuthorization.created_at)
    )
    return list(result.scalars())
