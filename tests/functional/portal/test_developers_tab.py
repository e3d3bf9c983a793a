"""The Developers tab (admins): API keys shown once, revoked; webhook endpoints and their log."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from leap_connect.models import User, WebhookDelivery, WebhookEndpoint, utc_now
from leap_connect.organizations.service import create_api_key
from leap_connect.runtime import Runtime
from leap_connect.webhooks.service import signing_secrets
from tests.functional.portal.conftest import (
    ADMIN_EMAIL,
    MEMBER_EMAIL,
    PASSWORD,
    Portal,
    add_user,
    error_text,
)
from tests.support.factories import Partner, create_partner

DEVELOPERS = "/portal/developers"


async def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(
    signed_in: Portal, partner: Partner, client: httpx.AsyncClient
) -> None:
    created = await signed_in.post(
        f"{DEVELOPERS}/api-keys",
        {"name": "CRM sync", "scope": ["connect:read", "meters:read"]},
        csrf_from=DEVELOPERS,
    )
    assert created.status == 200, created.text
    token = created.document.get_element_by_id("new-api-key").get("value")
    assert created.document.xpath("//button[@data-copy='new-api-key']/text()") == ["Copy key"]
    assert "CRM sync" in created.text and "connect:read, meters:read" in created.text

    again = await signed_in.open(DEVELOPERS)
    assert token not in again.response.text
    assert not again.document.xpath("//*[@id='new-api-key']")

    flows = await client.get("/v2/connect/flows", headers={"Authorization": f"Bearer {token}"})
    assert flows.status_code == 200, flows.text
    assert [flow["flow"] for flow in flows.json()["flows"]] == ["ca-homes"]

    [revoke] = again.document.xpath("//form[contains(@action,'/revoke')]/@action")
    revoked = await signed_in.post(revoke, {"confirmed": "yes"}, csrf_from=DEVELOPERS)
    assert revoked.status == 303
    assert "Revoked" in (await signed_in.open(DEVELOPERS)).text
    refused = await client.get("/v2/connect/flows", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


async def test_an_api_key_needs_a_scope(signed_in: Portal, partner: Partner) -> None:
    page = await signed_in.post(f"{DEVELOPERS}/api-keys", {"name": "x"}, csrf_from=DEVELOPERS)

    assert page.status == 400
    assert "Give at least one scope" in page.text


async def test_a_webhook_endpoint_is_created_tested_logged_and_deleted(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    created = await signed_in.post(
        f"{DEVELOPERS}/webhooks",
        {"url": "https://partner.example/hooks", "event_type": ["meter.created"]},
        csrf_from=DEVELOPERS,
    )
    assert created.status == 200, created.text
    secret = created.document.get_element_by_id("new-webhook-secret").get("value")
    assert created.document.xpath("//button[@data-copy='new-webhook-secret']")
    assert secret
    assert secret not in (await signed_in.open(DEVELOPERS)).response.text

    async with runtime.sessionmaker() as db:
        endpoint = (await db.execute(select(WebhookEndpoint))).scalar_one()
    log_path = f"{DEVELOPERS}/webhooks/{endpoint.id}"
    tested = await signed_in.post(f"{log_path}/test", {}, csrf_from=DEVELOPERS)
    assert tested.status == 303
    log = await signed_in.open(tested.response.headers["location"])
    assert log.status == 200
    assert "A ping event is on its way" in log.text
    assert "ping" in log.document.xpath("//table")[0].text_content()

    assert not log.document.xpath("//form[contains(@action,'/redeliver')]")
    async with runtime.sessionmaker() as db, db.begin():
        delivery = (await db.execute(select(WebhookDelivery))).scalar_one()
        delivery.status = "FAILED"
    log = await signed_in.open(log_path)
    [redeliver] = log.document.xpath("//form[contains(@action,'/redeliver')]/@action")
    redelivered = await signed_in.post(redeliver, {}, csrf_from=DEVELOPERS)
    assert redelivered.status == 303
    assert (
        "being sent again" in (await signed_in.open(redelivered.response.headers["location"])).text
    )

    deleted = await signed_in.post(f"{log_path}/delete", {"confirmed": "yes"}, csrf_from=DEVELOPERS)
    assert deleted.status == 303
    assert (await signed_in.open(log_path)).status == 404
    async with runtime.sessionmaker() as db:  # marked deleted; its delivery job removes it
        shown = select(func.count()).where(WebhookEndpoint.deleted_at.is_(None))
        assert await db.scalar(shown) == 0


async def test_a_webhook_endpoint_needs_a_url_and_an_event_type(
    signed_in: Portal, partner: Partner
) -> None:
    no_events = await signed_in.post(
        f"{DEVELOPERS}/webhooks", {"url": "https://partner.example/hooks"}, csrf_from=DEVELOPERS
    )
    bad_url = await signed_in.post(
        f"{DEVELOPERS}/webhooks",
        {"url": "ftp://x", "event_type": ["meter.created"]},
        csrf_from=DEVELOPERS,
    )

    assert no_events.status == 400 and "Choose at least one event type" in no_events.text
    assert bad_url.status == 400 and "https://" in bad_url.text


async def test_a_member_cannot_reach_any_developers_page(
    portal: Portal, member: User, admin: User, runtime: Runtime
) -> None:
    await portal.sign_in(MEMBER_EMAIL)

    pages = [
        await portal.open(DEVELOPERS),
        await portal.post(f"{DEVELOPERS}/api-keys", {"scope": ["connect:read"]}),
        await portal.open(f"{DEVELOPERS}/webhooks/00000000-0000-0000-0000-000000000000"),
    ]

    assert [page.status for page in pages] == [403, 403, 403]


async def test_another_organizations_keys_and_endpoints_are_404(
    portal: Portal, partner: Partner, admin: User, runtime: Runtime
) -> None:
    other = await create_partner(runtime, name="other", flow_title="their-flow")
    await add_user(runtime, other, "boss@other.example", "admin")
    await portal.sign_in("boss@other.example", PASSWORD)
    async with runtime.sessionmaker() as db, db.begin():
        endpoint = WebhookEndpoint(
            organization_id=partner.organization.id,
            url="https://acme.example/hooks",
            event_types=["meter.created"],
            headers={},
            secret_encrypted=runtime.encryptor.encrypt("s"),
        )
        db.add(endpoint)
    from leap_connect.organizations.service import create_api_key

    async with runtime.sessionmaker() as db, db.begin():
        issued = await create_api_key(
            db, runtime.secret_key, organization=partner.organization, scopes=["meters:read"]
        )

    log = await portal.open(f"{DEVELOPERS}/webhooks/{endpoint.id}")
    ping = await portal.post(f"{DEVELOPERS}/webhooks/{endpoint.id}/test", {})
    revoke = await portal.post(f"{DEVELOPERS}/api-keys/{issued.api_key.id}/revoke", {})
    listing = await portal.open(DEVELOPERS)

    assert [log.status, ping.status, revoke.status] == [404, 404, 404]
    assert "acme.example" not in listing.text
    assert issued.api_key.token_hint not in listing.text


async def _endpoint(runtime: Runtime, partner: Partner) -> WebhookEndpoint:
    async with runtime.sessionmaker() as db, db.begin():
        endpoint = WebhookEndpoint(
            organization_id=partner.organization.id,
            url="https://partner.example/hooks",
            event_types=["meter.created"],
            headers={"X-Gateway": "g"},
            secret_encrypted=runtime.encryptor.encrypt("whsec_old"),
        )
        db.add(endpoint)
    return endpoint


async def test_editing_a_webhook_endpoint_changes_what_the_api_returns(
    signed_in: Portal, partner: Partner, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    endpoint = await _endpoint(runtime, partner)
    async with runtime.sessionmaker() as db, db.begin():
        issued = await create_api_key(
            db,
            runtime.secret_key,
            organization=partner.organization,
            scopes=["webhooks:manage"],
        )
    page_path = f"{DEVELOPERS}/webhooks/{endpoint.id}"
    page = await signed_in.open(page_path)
    assert page.document.xpath("//input[@name='url']/@value") == ["https://partner.example/hooks"]

    edited = await signed_in.post(
        f"{page_path}/edit",
        {"url": "https://partner.example/v2/hooks", "event_type": ["agreement.signed"]},
        csrf_from=page_path,
    )

    assert edited.status == 303, edited.text
    assert "settings are saved" in (await signed_in.open(edited.response.headers["location"])).text
    shown = await client.get(
        f"/v2/webhooks/{endpoint.id}", headers={"Authorization": f"Bearer {issued.token}"}
    )
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["url"] == "https://partner.example/v2/hooks"
    assert body["event_types"] == ["agreement.signed"]
    assert body["enabled"] is False
    assert body["headers"] == {"X-Gateway": "g"}


async def test_an_edit_with_a_bad_url_is_refused_with_its_message(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    endpoint = await _endpoint(runtime, partner)
    page_path = f"{DEVELOPERS}/webhooks/{endpoint.id}"

    bad_url = await signed_in.post(
        f"{page_path}/edit",
        {"url": "ftp://x", "event_type": ["meter.created"], "enabled": "on"},
        csrf_from=page_path,
    )
    no_events = await signed_in.post(
        f"{page_path}/edit",
        {"url": "https://partner.example/other", "enabled": "on"},
        csrf_from=page_path,
    )

    assert bad_url.status == 400
    assert "https://" in error_text(bad_url, "url")
    assert bad_url.document.xpath("//input[@name='url']/@value") == ["ftp://x"]
    assert no_events.status == 400
    assert "Choose at least one event type" in error_text(no_events, "event_type")
    async with runtime.sessionmaker() as db:
        unchanged = await db.get(WebhookEndpoint, endpoint.id)
    assert unchanged is not None and unchanged.url == "https://partner.example/hooks"


async def test_rotating_the_secret_shows_the_new_one_once(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    endpoint = await _endpoint(runtime, partner)
    page_path = f"{DEVELOPERS}/webhooks/{endpoint.id}"

    rotated = await signed_in.post(
        f"{page_path}/rotate-secret", {"confirmed": "yes"}, csrf_from=page_path
    )

    assert rotated.status == 200, rotated.text
    secret = rotated.document.get_element_by_id("rotated-webhook-secret").get("value")
    assert rotated.document.xpath("//button[@data-copy='rotated-webhook-secret']")
    assert secret.startswith("whsec_") and secret != "whsec_old"
    assert "24 hours" in rotated.text and "both signatures" in rotated.text
    assert secret not in (await signed_in.open(page_path)).response.text
    async with runtime.sessionmaker() as db:
        stored = await db.get(WebhookEndpoint, endpoint.id)
    assert stored is not None
    assert signing_secrets(stored, runtime.encryptor, utc_now()) == [secret, "whsec_old"]


async def test_a_member_cannot_edit_or_rotate(
    portal: Portal, member: User, partner: Partner, runtime: Runtime
) -> None:
    endpoint = await _endpoint(runtime, partner)
    await portal.sign_in(MEMBER_EMAIL)

    edit = await portal.post(
        f"{DEVELOPERS}/webhooks/{endpoint.id}/edit",
        {"url": "https://evil.example/hooks", "event_type": ["meter.created"]},
    )
    rotate = await portal.post(f"{DEVELOPERS}/webhooks/{endpoint.id}/rotate-secret", {})

    assert [edit.status, rotate.status] == [403, 403]
    async with runtime.sessionmaker() as db:
        stored = await db.get(WebhookEndpoint, endpoint.id)
    assert stored is not None and stored.url == "https://partner.example/hooks"
    assert runtime.encryptor.decrypt(stored.secret_encrypted) == "whsec_old"


async def test_revoking_a_key_asks_first_naming_what_stops_working_and_works_without_script(
    signed_in: Portal, partner: Partner, client: httpx.AsyncClient
) -> None:
    created = await signed_in.post(
        f"{DEVELOPERS}/api-keys",
        {"name": "CRM sync", "scope": ["connect:read"]},
        csrf_from=DEVELOPERS,
    )
    token = created.document.get_element_by_id("new-api-key").get("value")
    tab = await signed_in.open(DEVELOPERS)
    [step] = tab.document.xpath("//details[@class='confirm']")
    assert step.xpath("./summary")[0].text_content().startswith("Revoke…")
    assert "is refused from its next request" in step.text_content()
    [action] = step.xpath(".//form/@action")

    # A form posted without the confirmation (an old page, a slip) only asks again.
    asked = await signed_in.post(action, {}, csrf_from=DEVELOPERS)
    assert asked.status == 200
    assert asked.document.findtext(".//h1") == "Revoke this API key?"
    assert "CRM sync" in asked.text and "cannot be undone" in asked.text
    assert asked.document.xpath("//a[text()='Cancel']/@href") == [DEVELOPERS]
    works = await client.get("/v2/connect/flows", headers={"Authorization": f"Bearer {token}"})
    assert works.status_code == 200

    [confirm] = asked.document.xpath("//main//form[input[@name='confirmed'][@value='yes']]")
    revoked = await signed_in.post(
        confirm.get("action"), {"confirmed": "yes"}, csrf_from=DEVELOPERS
    )
    assert revoked.status == 303
    refused = await client.get("/v2/connect/flows", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


async def test_deleting_and_rotating_ask_first_and_change_nothing_until_confirmed(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    endpoint = await _endpoint(runtime, partner)
    page_path = f"{DEVELOPERS}/webhooks/{endpoint.id}"

    delete = await signed_in.post(f"{page_path}/delete", {}, csrf_from=page_path)
    rotate = await signed_in.post(f"{page_path}/rotate-secret", {}, csrf_from=page_path)

    assert delete.document.findtext(".//h1") == "Delete this webhook endpoint?"
    assert "Events stop going to https://partner.example/hooks" in delete.text
    assert rotate.document.findtext(".//h1") == "Rotate the signing secret?"
    assert "refuses every event" in rotate.text
    async with runtime.sessionmaker() as db:
        stored = await db.get(WebhookEndpoint, endpoint.id)
    assert stored is not None and stored.deleted_at is None
    assert signing_secrets(stored, runtime.encryptor, utc_now()) == ["whsec_old"]


async def test_the_activity_page_says_who_changed_which_key_and_endpoint(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    await signed_in.post(
        f"{DEVELOPERS}/api-keys",
        {"name": "CRM sync", "scope": ["connect:read"]},
        csrf_from=DEVELOPERS,
    )
    [revoke] = (await signed_in.open(DEVELOPERS)).document.xpath(
        "//form[contains(@action,'/revoke')]/@action"
    )
    await signed_in.post(revoke, {"confirmed": "yes"}, csrf_from=DEVELOPERS)
    endpoint = await _endpoint(runtime, partner)
    await signed_in.post(
        f"{DEVELOPERS}/webhooks/{endpoint.id}/delete", {"confirmed": "yes"}, csrf_from=DEVELOPERS
    )

    page = await signed_in.open(f"{DEVELOPERS}/activity")

    rows = [
        [" ".join(cell.text_content().split()) for cell in row.xpath("./td")][1:]
        for row in page.document.xpath("//table[contains(@class,'activity')]/tbody/tr")
    ]
    assert len(rows) == 3
    assert rows[0] == [ADMIN_EMAIL, "Deleted the webhook endpoint https://partner.example/hooks"]
    assert rows[1][0] == ADMIN_EMAIL and rows[1][1].startswith("Revoked the API key CRM sync (")
    assert rows[2][1].startswith("Created the API key CRM sync (")
