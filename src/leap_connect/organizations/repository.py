"""Queries for organizations, users and API keys."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.models import ApiKey, Organization, User


async def get_organization_by_name(session: AsyncSession, name: str) -> Organization | None:
    result = await session.execute(select(Organization).where(Organization.name == name))
    return result.scalar_one_or_none()


async def get_organization(
    session: AsyncSession, organization_id: uuid.UUID
) -> Organization | None:
    return await session.get(Organization, organization_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def get_api_key_by_hmac(session: AsyncSession, token_hmac: str) -> ApiKey | None:
    result = await session.execute(select(ApiKey).where(ApiKey.token_hmac == token_hmac))
    return result.scalar_one_or_none()
