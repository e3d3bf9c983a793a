"""The Connect tab: flows with their opened links, the link builder and bulk links from a CSV."""

from __future__ import annotations

import csv
import io

import httpx
from fastapi import FastAPI
from lxml.html import HtmlElement
from sqlalchemy import select

from leap_connect.models import LinkOpen, User
from leap_connect.runtime import Runtime
from tests.functional.portal.conftest import MEMBER_EMAIL, Portal, error_text
from tests.support.browser import Page
from tests.support.factories import Partner, create_partner

BASE_URL = "http://testserver"


def facts_of(section: HtmlElement) -> dict[str, str]:
    return {
        " ".join(item.findtext("dt").split()): " ".join(item.find("dd").text_content().split())
        for item in section.xpath(".//dl/div")
    }


async def landing_message(client: httpx.AsyncClient, query: str) -> tuple[int, str]:
    """What the landing page says about a link, for comparing with the portal's words."""
    page = Page(await client.get(f"/acme/ca-homes?{query}"))
    return page.status, " ".join(
        page.document.xpath("//p[@class='lead']")[0].text_content().split()
    )


async def test_the_connect_tab_lists_the_organizations_flows_and_nobody_elses(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    await create_partner(runtime, name="other", flow_title="secret-flow")

    page = await signed_in.open("/portal/connect")

    assert page.status == 200
    [flow] = page.document.xpath("//section[contains(@class, 'flow')]")
    assert flow.findtext(".//h2") == "Ca homes"
    assert facts_of(flow) == {
        "Region": "CAISO",
        "Utilities": "Pacific Gas & Electric, Southern California Edison, San Diego Gas & Electric",
        "Customer types": "Residential, Commercial",
        "Link base": f"{BASE_URL}/acme/ca-homes",
        "Links opened, last 30 days": "0",
    }
    assert "secret-flow" not in page.text
    [button] = page.document.xpath("//main//a[@href='/portal/connect/links/new']")
    assert button.text_content() == "+ Connect link"


async def test_the_connect_tab_says_how_links_opened_are_counted(
    signed_in: Portal, partner: Partner
) -> None:
    page = await signed_in.open("/portal/connect")

    note = page.document.get_element_by_id("links-opened-note").text_content()
    assert "each once a day" in note
    assert "e-mail security scanner" in note
    assert "not stored" in note


async def test_a_link_with_two_utilities_and_a_reference_id_comes_with_a_qr_code(
    signed_in: Portal, partner: Partner
) -> None:
    builder = await signed_in.open("/portal/connect/links/new")
    boxes = builder.document.xpath("//fieldset[@data-flow='ca-homes']//input[@type='checkbox']")
    assert [box.get("value") for box in boxes] == ["pge", "sce", "sdge"]

    page = await signed_in.post(
        "/portal/connect/links",
        {"flow": "ca-homes", "utility_id": ["pge", "sce"], "ref_id": "cust 42/7"},
    )

    assert page.status == 200, page.text
    url = page.document.get_element_by_id("link-url").get("value")
    assert url == f"{BASE_URL}/acme/ca-homes?requestedUtilities=pge,sce&refId=cust%2042%2F7"
    [svg] = page.document.xpath("//figure[@class='qr']/svg")
    assert svg.get("role") == "img"
    assert svg.findtext("title") == "QR code of the Connect link"
    assert svg.xpath(".//path")
    assert page.document.xpath("//button[@data-copy='link-url']")
    landing = await signed_in.client.get(url.removeprefix(BASE_URL))
    assert landing.status_code == 200


async def test_a_link_without_utilities_or_reference_lets_the_customer_choose(
    signed_in: Portal, partner: Partner
) -> None:
    page = await signed_in.post("/portal/connect/links", {"flow": "ca-homes", "ref_id": ""})

    assert page.document.get_element_by_id("link-url").get("value") == f"{BASE_URL}/acme/ca-homes"


async def test_a_reference_id_of_255_characters_is_accepted_and_256_refused_like_the_landing_page(
    signed_in: Portal, partner: Partner
) -> None:
    accepted = await signed_in.post(
        "/portal/connect/links", {"flow": "ca-homes", "ref_id": "r" * 255}
    )
    refused = await signed_in.post(
        "/portal/connect/links", {"flow": "ca-homes", "ref_id": "r" * 256}
    )

    assert accepted.status == 200
    assert accepted.document.get_element_by_id("link-url").get("value").endswith("r" * 255)
    assert refused.status == 400
    assert not refused.document.xpath("//*[@id='link-url']")
    status, _ = await landing_message(signed_in.client, f"refId={'r' * 256}")
    assert status == 400  # the landing page refuses the same link (in its customer's words)
    assert error_text(refused, "ref_id") == "refId is 256 characters long; the limit is 255."
    ref_id = refused.document.get_element_by_id("ref_id")
    assert ref_id.get("aria-invalid") == "true"
    assert ref_id.get("value") == "r" * 256


async def test_a_reference_id_with_a_character_that_is_not_ascii_is_refused_like_the_landing_page(
    signed_in: Portal, partner: Partner
) -> None:
    refused = await signed_in.post("/portal/connect/links", {"flow": "ca-homes", "ref_id": "Zoë"})

    status, _ = await landing_message(signed_in.client, "refId=Zo%C3%AB")
    assert refused.status == status == 400
    assert "character 3 is" in error_text(refused, "ref_id")


async def test_a_utility_the_flow_does_not_offer_is_refused_like_the_landing_page(
    signed_in: Portal, partner: Partner
) -> None:
    refused = await signed_in.post(
        "/portal/connect/links",
        {"flow": "ca-homes", "utility_id": ["pge", "cecony-utilityapi"], "ref_id": "c-1"},
    )

    status, _ = await landing_message(signed_in.client, "requestedUtilities=pge,cecony-utilityapi")
    assert refused.status == status == 400
    assert '"cecony-utilityapi", which this flow does not offer' in error_text(
        refused, "utility_id"
    )


async def test_another_organizations_flow_is_a_404_page(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    await create_partner(runtime, name="other", flow_title="their-flow")

    pages = [
        await signed_in.open("/portal/connect/links/new?flow=their-flow"),
        await signed_in.open("/portal/connect/links/bulk?flow=their-flow"),
        await signed_in.post("/portal/connect/links", {"flow": "their-flow", "ref_id": "x"}),
        await signed_in.post(
            "/portal/connect/links/bulk/download",
            {"flow": "their-flow", "ref_ids": '["x"]'},
        ),
    ]

    for page in pages:
        assert page.status == 404
        assert 'Acme Energy has no flow named "their-flow".' in page.text
        assert "/other/their-flow" not in page.text


def links_csv(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


async def test_bulk_links_from_a_csv_list_bad_rows_by_line_and_download_as_csv(
    signed_in: Portal, partner: Partner
) -> None:
    upload = links_csv(
        ["refId", "cust-1", "x" * 256, "", "cust 2", "Zoë", '"two', 'lines"', "cust-3"]
    )

    page = await signed_in.post(
        "/portal/connect/links/bulk",
        {"flow": "ca-homes", "utility_id": ["sce"]},
        files={"file": ("refs.csv", upload, "text/csv")},
    )

    assert page.status == 200, page.text
    assert "3 links ready" in page.text
    assert "3 of 7 rows make a link for Ca homes, asking for sce." in page.text
    rejected = [
        [" ".join(cell.text_content().split()) for cell in row.xpath("td")]
        for row in page.document.xpath("//table//tbody/tr")
    ]
    assert rejected == [
        ["3", "refId is 256 characters long; the limit is 255."],
        ["4", "the Reference ID is empty"],
        [
            "6",
            'refId may contain only printable ASCII characters; character 3 is "ë" (U+00EB), '
            "which is not ASCII.",
        ],
        [
            "7",
            "refId may contain only printable ASCII characters; character 4 is a control "
            "character (U+000A).",
        ],
    ]
    [download] = page.document.xpath("//form[@action='/portal/connect/links/bulk/download']")
    data = {name: value for name, value in download.form_values() if name != "utility_id"}
    data["utility_id"] = [v for n, v in download.form_values() if n == "utility_id"]
    response = await signed_in.client.post("/portal/connect/links/bulk/download", data=data)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="acme-ca-homes-links.csv"' in response.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["ref_id", "url"],
        ["cust-1", f"{BASE_URL}/acme/ca-homes?requestedUtilities=sce&refId=cust-1"],
        ["cust 2", f"{BASE_URL}/acme/ca-homes?requestedUtilities=sce&refId=cust%202"],
        ["cust-3", f"{BASE_URL}/acme/ca-homes?requestedUtilities=sce&refId=cust-3"],
    ]


async def test_bulk_links_reject_a_file_that_is_not_utf8_csv_with_a_clear_message(
    signed_in: Portal, partner: Partner
) -> None:
    cases = [
        (
            "cust-1\nZo\xeb\n".encode("latin-1"),
            "The file is not UTF-8 text (byte 10 is not). "
            'Save it as "CSV UTF-8" and upload it again.',
        ),
        (
            b"cust-1\n" + b"x" * 200_000 + b"\n",
            "The file is not a CSV file we can read: line 2: "
            "field larger than field limit (131072).",
        ),
        (b"", "The file has no Reference IDs."),
    ]
    for content, message in cases:
        page = await signed_in.post(
            "/portal/connect/links/bulk",
            {"flow": "ca-homes"},
            files={"file": ("refs.csv", content, "text/csv")},
        )
        assert page.status == 400
        assert error_text(page, "file") == message


async def test_the_bulk_download_checks_the_reference_ids_again(
    signed_in: Portal, partner: Partner
) -> None:
    page = await signed_in.post(
        "/portal/connect/links/bulk/download",
        {"flow": "ca-homes", "ref_ids": '["fine", "' + "r" * 256 + '"]'},
    )

    assert page.status == 422
    assert "Reference ID 2: refId is 256 characters long; the limit is 255." in page.text


async def test_a_member_makes_links_too(portal: Portal, member: User, partner: Partner) -> None:
    await portal.sign_in(MEMBER_EMAIL)
    page = await portal.post("/portal/connect/links", {"flow": "ca-homes", "ref_id": "m-1"})
    assert page.status == 200
    assert page.document.get_element_by_id("link-url").get("value").endswith("refId=m-1")


async def test_the_app_saves_the_opens_it_noted_when_it_shuts_down(
    app: FastAPI, signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    async with app.router.lifespan_context(app):
        for agent in ("Safari", "Firefox", "Firefox"):
            await signed_in.client.get("/acme/ca-homes", headers={"user-agent": agent})

    async with runtime.sessionmaker() as db:
        saved = (await db.execute(select(LinkOpen.flow_id))).scalars().all()
    assert saved == [partner.flow.id, partner.flow.id]
