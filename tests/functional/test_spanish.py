"""A customer whose browser asks for Spanish, or who switches to it, reads every page in Spanish
for the rest of the session, errors included."""

from __future__ import annotations

import httpx

from tests.functional.test_journey import connect_utility
from tests.support.browser import Browser, Page
from tests.support.factories import RESIDENTIAL_DETAILS, Partner

SPANISH = {"Accept-Language": "es-US,es;q=0.9,en;q=0.5"}


async def test_a_spanish_browser_gets_the_journey_in_spanish(
    client: httpx.AsyncClient, browser: Browser, partner: Partner
) -> None:
    client.headers.update(SPANISH)
    landing = await browser.open("/acme/ca-homes?refId=cust-es-1")
    assert landing.document.get("lang") == "es"
    assert "Comparta sus datos de energía con Acme Energy" in landing.text
    assert "Pacific Gas & Electric (PG&E)" in landing.text
    assert "Mi compañía eléctrica no aparece" in landing.text
    [english] = landing.document.xpath("//nav[@aria-label='Idioma']/a")
    assert english.text == "English" and "lang=en" in english.get("href")

    refused = await browser.submit(landing, button=("utility_id", "pge"), fields={})
    assert refused.status == 400
    assert "Corrija estas 3 cosas" in refused.text
    assert "Escriba su nombre completo." in refused.text

    session_page = await connect_utility(
        browser, landing, "pge", "residential", RESIDENTIAL_DETAILS
    )
    assert "Compañía eléctrica conectada" in session_page.text
    assert "Conectada · 1 medidor" in session_page.text
    assert "Su compañía eléctrica" in session_page.text  # the step indicator

    bad_link = await browser.open("/acme/ca-homes?refId=%E2%9C%93")
    assert "Este enlace no está completo" in bad_link.text


async def test_the_language_chosen_on_a_page_is_kept_for_the_session(
    client: httpx.AsyncClient, browser: Browser, partner: Partner
) -> None:
    english = await browser.open("/acme/ca-homes?refId=cust-es-2")
    assert "Share your energy data with Acme Energy" in english.text
    [switch] = english.document.xpath("//nav[@aria-label='Language']/a[@hreflang='es']/@href")

    spanish = await browser.open(switch)
    assert "Comparta sus datos de energía" in spanish.text
    assert "refId=cust-es-2" in spanish.url
    cookie = spanish.response.headers["set-cookie"]
    assert cookie.startswith("lc_language=es;") and "HttpOnly" in cookie

    again = await browser.open("/acme/ca-homes?refId=cust-es-2")  # no lang: the cookie's
    assert "Comparta sus datos de energía" in again.text
    back = await browser.open("/acme/ca-homes?refId=cust-es-2&lang=en")
    assert "Share your energy data" in back.text
    after = Page(await client.get("/acme/ca-homes?refId=cust-es-2", headers=SPANISH))
    assert "Share your energy data" in after.text  # the choice outranks the browser's wish


async def test_pages_for_partners_stay_in_english(client: httpx.AsyncClient) -> None:
    page = Page(await client.get("/portal/no-such-page", headers=SPANISH))
    assert page.status == 404
    assert page.document.get("lang") == "en"
    assert "No encontramos" not in page.text and "Español" not in page.text
