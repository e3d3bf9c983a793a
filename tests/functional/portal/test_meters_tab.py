"""The Meters tab: search like the API, a meter's page, and its audited partner reference."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy import delete

from leap_connect.models import Meter, User, utc_now
from leap_connect.models.meter import MeterInterval
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


async def test_meters_are_listed_for_people_and_found_by_name_address_meter_number_or_utility(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    meter = await finish_journey(client, app)
    async with runtime.sessionmaker() as db:
        stored = await db.get(Meter, meter.id)
    assert stored is not None and stored.street_1 and stored.utility_meter_serial_number

    page = await signed_in.open("/portal/meters")

    [row] = page.document.xpath("//section[@aria-labelledby='meter-results']//tbody/tr")
    cells = [" ".join(cell.text_content().split()) for cell in row.xpath("./td")]
    assert cells[0] == "Ada Lovelace"
    assert cells[1].startswith(stored.street_1)
    assert cells[2] == stored.utility_meter_serial_number
    assert cells[3] == "PG&E"
    assert cells[4] == "cust-123"
    assert cells[5].startswith("Sharing data")
    for text in ("ada LOVE", stored.street_1[2:9], stored.utility_meter_serial_number, "pg&e"):
        found = await signed_in.open(f"/portal/meters?{urlencode({'q': text})}")
        assert found.document.xpath("//tbody//a/@href") == [f"/portal/meters/{meter.id}"], text
    for text in ("Grace", "100%", "Con Edison"):
        missed = await signed_in.open(f"/portal/meters?{urlencode({'q': text})}")
        assert "No meters match" in missed.text, text


async def test_a_meter_page_names_the_customer_and_shows_the_authorization_and_its_session(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient
) -> None:
    meter = await finish_journey(client, app)

    page = await signed_in.open(f"/portal/meters/{meter.id}")

    assert page.document.findtext(".//h1").startswith("Ada Lovelace, meter ")
    steps = page.document.xpath("//section[@aria-labelledby='meter-authorization']//li/strong")
    assert [step.text_content() for step in steps][:1] == ["Granted"]
    [session_link] = page.document.xpath(
        "//section[@aria-labelledby='meter-authorization']//a/@href"
    )
    assert (await signed_in.open(session_link)).status == 200
    [utility] = page.document.xpath("//dt[text()='Utility']/following-sibling::dd/span")
    assert (utility.text_content(), utility.get("title")) == ("PG&E", "Utility ID: pge")


async def test_a_meter_page_draws_its_latest_readings_per_day_delivered_and_received(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    meter = await finish_journey(client, app)
    today = datetime.combine(utc_now().date(), time(), tzinfo=UTC)
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(delete(MeterInterval).where(MeterInterval.meter_id == meter.id))
        for hour in range(24):
            for direction, value in (("delivered", 0.5), ("received", 0.25)):
                db.add(
                    MeterInterval(
                        meter_id=meter.id,
                        direction=direction,
                        interval_seconds=3600,
                        interval_start=today - timedelta(days=1, hours=-hour),
                        duration_seconds=3600,
                        value=value,
                        unit="kWh",
                    )
                )
        # The same day read every 15 minutes too: counted once, from the finer series.
        for quarter in range(96):
            db.add(
                MeterInterval(
                    meter_id=meter.id,
                    direction="delivered",
                    interval_seconds=900,
                    interval_start=today - timedelta(days=1, minutes=-15 * quarter),
                    duration_seconds=900,
                    value=0.125,
                    unit="kWh",
                )
            )

    page = await signed_in.open(f"/portal/meters/{meter.id}")

    rows = {
        row.xpath("./td")[0].text_content(): [cell.text_content() for cell in row.xpath("./td")[1:]]
        for row in page.document.xpath("//table[contains(@class,'readings')]/tbody/tr")
    }
    assert len(rows) == 14
    yesterday = (today - timedelta(days=1)).date().isoformat()
    assert rows[yesterday] == ["12.0", "6.0"]
    chart = page.document.xpath("//*[@role='img'][contains(@class,'readings-chart')]")
    assert chart and chart[0].xpath(".//rect[@class='delivered'][@height='120']")


async def test_a_meter_page_offers_a_renewal_link_for_its_customer_and_utility(
    app: FastAPI, signed_in: Portal, partner: Partner, client: httpx.AsyncClient
) -> None:
    meter = await finish_journey(client, app)
    page = await signed_in.open(f"/portal/meters/{meter.id}")
    [renewal] = page.document.xpath("//a[starts-with(normalize-space(), 'Make a renewal link')]")

    builder = await signed_in.open(renewal.get("href"))

    assert builder.document.get_element_by_id("ref_id").get("value") == "cust-123"
    checked = builder.document.xpath(
        "//fieldset[@data-flow='ca-homes']//input[@type='checkbox'][@checked]/@value"
    )
    assert checked == ["pge"]
