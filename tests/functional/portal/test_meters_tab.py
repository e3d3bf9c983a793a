"""The Meters tab: search like the API, a meter's page, and its audited partner reference."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from leap_connect.models import User
from leap_connect.runtime import Runtime
from tests.functional.portal.conftest import Portal
from tests.functional.portal.journey import finish_journey
from tests.support.factories import Partner, create_partner


async def test_search_by_reference_finds_the_meter_a_journey_made(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    meter = await finish_journey(client, app)

    found = await signed_in.open("/portal/meters?reference=cust-123")
    missed = await signed_in.open("/portal/meters?reference=nobody")
    by_utility = await signed_in.open("/portal/meters?utility=pge&classification=RESIDENTIAL")
    other_utility = await signed_in.open("/portal/meters?utility=sce")

    assert found.status == 200
    assert found.document.xpath("//table//a/@href") == [f"/portal/meters/{meter.id}"]
    assert "No meters match" in missed.text
    assert len(by_utility.document.xpath("//table//a")) == 1
    assert "No meters match" in other_utility.text


async def test_a_meter_page_shows_the_api_fields_and_editing_the_reference_is_audited(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    meter = await finish_journey(client, app)
    path = f"/portal/meters/{meter.id}"

    page = await signed_in.open(path)
    assert page.status == 200
    assert str(meter.id) in page.text
    assert "CAISO" in page.text and "Ada Lovelace" in page.text
    assert "No changes since the meter was connected" in page.text

    bad = await signed_in.post(
        f"{path}/partner-reference", {"partner_reference": "café"}, csrf_from=path
    )
    assert bad.status == 400
    assert bad.document.xpath("//input[@name='partner_reference']/@value") == ["café"]
    assert "partner_reference" in bad.text

    changed = await signed_in.post(
        f"{path}/partner-reference", {"partner_reference": "cust-456"}, csrf_from=path
    )
    assert changed.status == 303, changed.text
    changed = await signed_in.open(changed.response.headers["location"])
    assert "The partner reference was changed" in changed.text
    history = changed.document.get_element_by_id("meter-history").getparent().text_content()
    assert "meter.partner_reference.updated" in history
    assert "cust-123" in history and "cust-456" in history
    events = changed.document.get_element_by_id("meter-events").getparent().text_content()
    assert "meter.partner_reference.updated" in events

    found = await signed_in.open("/portal/meters?reference=cust-456")
    assert found.document.xpath("//table//a/@href") == [path]


async def test_the_reference_form_needs_its_csrf_token(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    meter = await finish_journey(client, app)

    response = await signed_in.client.post(
        f"/portal/meters/{meter.id}/partner-reference", data={"partner_reference": "x"}
    )

    assert response.status_code == 403


async def test_another_organizations_meter_is_a_404_page(
    app: FastAPI, portal: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    meter = await finish_journey(client, app)
    other = await create_partner(runtime, name="other", flow_title="their-flow")
    from tests.functional.portal.conftest import PASSWORD, add_user

    await add_user(runtime, other, "someone@other.example", "admin")
    await portal.sign_in("someone@other.example", PASSWORD)

    page = await portal.open(f"/portal/meters/{meter.id}")
    edit = await portal.post(
        f"/portal/meters/{meter.id}/partner-reference", {"partner_reference": "mine"}
    )
    garbage = await portal.open("/portal/meters/not-a-uuid")
    search = await portal.open("/portal/meters?reference=cust-123")

    assert page.status == 404
    assert edit.status == 404
    assert garbage.status == 404
    assert "No meters match" in search.text


async def test_a_member_can_search_meters(portal: Portal, member: User) -> None:
    from tests.functional.portal.conftest import MEMBER_EMAIL

    await portal.sign_in(MEMBER_EMAIL)

    page = await portal.open("/portal/meters?from=not-a-date")

    assert page.status == 400
    assert "YYYY-MM-DD" in page.text
