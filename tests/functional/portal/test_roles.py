"""Admins see every tab; members see no Developers tab and cannot open it by URL."""

from __future__ import annotations

import pytest

from leap_connect.models import User
from tests.functional.portal.conftest import ADMIN_EMAIL, MEMBER_EMAIL, Portal


async def test_an_admin_has_the_four_tabs_and_opens_the_developers_tab(
    portal: Portal, admin: User
) -> None:
    await portal.sign_in(ADMIN_EMAIL)

    page = await portal.open("/portal/developers")

    assert page.status == 200
    assert [a.text_content() for a in page.document.xpath("//nav//a")] == [
        "Connect",
        "Meters",
        "Sessions",
        "Developers",
    ]
    assert "API keys" in page.text
    assert page.document.xpath("//nav//a[@aria-current='page']")[0].text_content() == "Developers"


async def test_a_member_sees_no_developers_tab_and_gets_a_403_page_by_url(
    portal: Portal, member: User
) -> None:
    await portal.sign_in(MEMBER_EMAIL)

    connect = await portal.open("/portal/connect")
    developers = await portal.open("/portal/developers")

    assert [a.text_content() for a in connect.document.xpath("//nav//a")] == [
        "Connect",
        "Meters",
        "Sessions",
    ]
    assert developers.status == 403
    assert "Only administrators of Acme Energy can open this page" in developers.text
    assert "API keys" not in developers.text


@pytest.mark.parametrize(
    ("path", "heading"),
    [("/portal/meters", "Meters"), ("/portal/sessions", "Sessions")],
)
async def test_a_member_opens_the_tabs_that_are_not_for_admins_only(
    portal: Portal, member: User, path: str, heading: str
) -> None:
    await portal.sign_in(MEMBER_EMAIL)

    page = await portal.open(path)

    assert page.status == 200
    assert page.document.xpath("//h1")[0].text_content() == heading
    assert "Coming soon" not in page.text
