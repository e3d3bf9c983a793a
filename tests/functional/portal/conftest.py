"""A partner with an admin and a member, and a portal client that signs in and posts forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from leap_connect.models import User
from leap_connect.organizations.service import create_user
from leap_connect.runtime import Runtime
from tests.support.browser import Page
from tests.support.factories import Partner

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@acme.example"
MEMBER_EMAIL = "member@acme.example"


async def add_user(runtime: Runtime, partner: Partner, email: str, role: str) -> User:
    async with runtime.sessionmaker() as session, session.begin():
        return await create_user(
            session, organization=partner.organization, email=email, password=PASSWORD, role=role
        )


@pytest.fixture
async def admin(runtime: Runtime, partner: Partner) -> User:
    return await add_user(runtime, partner, ADMIN_EMAIL, "admin")


@pytest.fixture
async def member(runtime: Runtime, partner: Partner) -> User:
    return await add_user(runtime, partner, MEMBER_EMAIL, "member")


class Portal:
    """The portal as a browser sees it: pages, their forms' CSRF tokens, and cookies."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def open(self, path: str) -> Page:
        return Page(await self.client.get(path))

    async def sign_in(
        self, email: str, password: str = PASSWORD, *, next_path: str | None = None
    ) -> httpx.Response:
        page = await self.open("/portal/sign-in" + (f"?next={next_path}" if next_path else ""))
        data = {"email": email, "password": password, "csrf_token": csrf_of(page)}
        if next_path:
            data["next"] = next_path
        return await self.client.post("/portal/sign-in", data=data)

    async def post(
        self,
        path: str,
        data: Mapping[str, Any],
        *,
        csrf_from: str = "/portal/connect",
        files: Mapping[str, Any] | None = None,
    ) -> Page:
        """POST a form with the CSRF token a signed-in page gave."""
        token = csrf_of(await self.open(csrf_from))
        response = await self.client.post(
            path, data={"csrf_token": token, **data}, files=files or None
        )
        return Page(response)


def csrf_of(page: Page) -> str:
    [token] = page.document.xpath("//input[@name='csrf_token']/@value")[:1]
    return str(token)


def error_text(page: Page, field: str) -> str:
    return " ".join(page.document.get_element_by_id(f"{field}-error").text_content().split())


@pytest.fixture
def portal(client: httpx.AsyncClient) -> Portal:
    return Portal(client)


@pytest.fixture
async def signed_in(portal: Portal, admin: User) -> Portal:
    response = await portal.sign_in(ADMIN_EMAIL)
    assert response.status_code == 303, response.text
    return portal
