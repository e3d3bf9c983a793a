"""Signing in to the portal: one answer for every wrong try, limits, expiry, sign-out and CSRF."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from leap_connect.app import create_app, runtime_of_app
from leap_connect.jobs.registry import JobContext
from leap_connect.kit.crypto import generate_encryption_key
from leap_connect.kit.csrf import csrf_token
from leap_connect.models import Job, PortalSession, User, utc_now
from leap_connect.portal.auth import (
    ABSOLUTE_LIFETIME,
    IDLE_TIMEOUT,
    SignInLimiter,
)
from leap_connect.portal.tasks import delete_expired_portal_sessions
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from tests.conftest import BASE_URL
from tests.functional.portal.conftest import (
    ADMIN_EMAIL,
    PASSWORD,
    Portal,
    add_user,
    csrf_of,
)
from tests.support.browser import Page
from tests.support.factories import Partner, create_partner

WRONG = "The e-mail address or the password is not right. Please check both and try again."


async def stored_sessions(runtime: Runtime) -> list[PortalSession]:
    async with runtime.sessionmaker() as db:
        return list((await db.execute(select(PortalSession))).scalars())


async def test_a_partner_signs_in_and_sees_the_connect_tab_with_its_branding(
    portal: Portal, admin: User
) -> None:
    response = await portal.sign_in(ADMIN_EMAIL)

    assert response.status_code == 303
    assert response.headers["location"] == "/portal/connect"
    page = await portal.open("/portal/connect")
    assert page.status == 200
    assert "Acme Energy" in page.text
    assert "Partner portal" in page.text
    assert ADMIN_EMAIL in page.text
    tabs = page.document.xpath("//nav//a")
    assert [a.text_content() for a in tabs] == ["Connect", "Meters", "Sessions", "Developers"]
    assert [a.get("aria-current") for a in tabs] == ["page", None, None, None]
    assert page.document.xpath("//link[starts-with(@href, '/brand/')]")


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    portal: Portal, admin: User
) -> None:
    wrong_password = await portal.sign_in(ADMIN_EMAIL, "not the password at all")
    unknown_email = await portal.sign_in("nobody@acme.example", PASSWORD)

    for response in (wrong_password, unknown_email):
        assert response.status_code == 400
        assert "set-cookie" not in response.headers or "portal=" not in response.headers.get(
            "set-cookie", ""
        )
        page = Page(response)
        assert page.document.xpath("//*[@role='alert']")[0].text_content() == WRONG
        assert page.document.get_element_by_id("email").get("aria-invalid") == "true"
    assert Page(wrong_password).text.replace(ADMIN_EMAIL, "") == Page(unknown_email).text.replace(
        "nobody@acme.example", ""
    )


async def test_the_email_address_is_not_case_sensitive(portal: Portal, admin: User) -> None:
    response = await portal.sign_in("  Admin@ACME.example ")
    assert response.status_code == 303


async def test_the_cookie_carries_a_random_token_and_the_table_only_its_hmac(
    portal: Portal, admin: User, runtime: Runtime
) -> None:
    response = await portal.sign_in(ADMIN_EMAIL)

    cookie = response.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    token = rest.split(";")[0]
    assert name == "leap_connect_portal"
    assert len(token) >= 40
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower()
    [stored] = await stored_sessions(runtime)
    assert stored.token_hmac != token and len(stored.token_hmac) == 64
    assert stored.expires_at - stored.created_at == ABSOLUTE_LIFETIME


@pytest.fixture
async def production_portal(database_url: str, tmp_path: Path) -> AsyncIterator[Portal]:
    settings = Settings(
        env="production",
        database_url=database_url,
        data_dir=tmp_path,
        base_url="https://connect.example.com",
        secret_key="a-production-secret-of-our-own-0123456789",
        encryption_keys=generate_encryption_key(),
    )
    app = create_app(settings)
    context = runtime_of_app(app)
    partner = await create_partner(context)
    await add_user(context, partner, ADMIN_EMAIL, "admin")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield Portal(http)
    await context.engine.dispose()


async def test_outside_development_the_session_cookie_is_host_prefixed_and_secure(
    production_portal: Portal,
) -> None:
    response = await production_portal.sign_in(ADMIN_EMAIL)

    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-leap_connect_portal=")
    assert "; secure" in cookie.lower()
    assert "; path=/" in cookie.lower()
    assert "domain=" not in cookie.lower()
    page = await production_portal.open("/portal/connect")
    assert page.status == 200


async def test_sign_in_attempts_for_one_email_are_limited_even_with_the_right_password(
    portal: Portal, admin: User
) -> None:
    for _ in range(10):
        assert (await portal.sign_in(ADMIN_EMAIL, "wrong password")).status_code == 400

    refused = await portal.sign_in(ADMIN_EMAIL, PASSWORD)

    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    message = Page(refused).document.xpath("//*[@role='alert']")[0].text_content()
    assert message.startswith("Too many sign-in attempts. For your security, please wait ")
    assert message.endswith(" minutes and try again.")
    assert (await portal.sign_in("someone-else@acme.example", "wrong")).status_code == 400


async def test_wrong_passwords_from_many_addresses_slow_an_account_down_but_never_lock_it(
    app: FastAPI, runtime: Runtime, admin: User
) -> None:
    runtime.put(SignInLimiter(slow_down=0.2))

    def portal_from(address: str) -> Portal:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return Portal(httpx.AsyncClient(transport=transport, base_url=BASE_URL))

    # Someone who knows the address guesses from eleven addresses, one guess each.
    for number in range(11):
        guesser = portal_from(f"203.0.113.{number + 1}")
        async with guesser.client:
            assert (await guesser.sign_in(ADMIN_EMAIL, "guess")).status_code == 400

    # The real user, from their own address, still signs in: only a little more slowly.
    real = portal_from("198.51.100.7")
    started = time.perf_counter()
    signed_in = await real.sign_in(ADMIN_EMAIL, PASSWORD)
    assert signed_in.status_code == 303, signed_in.text
    assert time.perf_counter() - started >= 0.2
    await real.client.aclose()


async def test_sign_in_attempts_from_one_client_are_limited_whatever_the_email(
    portal: Portal, runtime: Runtime
) -> None:
    # Five instead of thirty, to keep the test quick: each attempt costs an Argon2 verification.
    runtime.put(SignInLimiter(per_client="5 per 10 minutes"))
    for number in range(5):
        response = await portal.sign_in(f"guess-{number}@acme.example", "wrong password")
        assert response.status_code == 400

    refused = await portal.sign_in("guess-6@acme.example", "wrong password")

    assert refused.status_code == 429
    assert "Too many sign-in attempts" in Page(refused).text


async def test_signing_out_ends_the_session_on_the_server(
    signed_in: Portal, runtime: Runtime
) -> None:
    cookie = signed_in.client.cookies.get("leap_connect_portal")

    response = await signed_in.client.post(
        "/portal/sign-out", data={"csrf_token": csrf_of(await signed_in.open("/portal/connect"))}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/portal/sign-in?reason=signed-out"
    assert 'leap_connect_portal=""' in response.headers["set-cookie"]
    assert await stored_sessions(runtime) == []
    assert "You have signed out." in (await signed_in.open(response.headers["location"])).text
    # The old cookie, replayed, signs nobody in.
    signed_in.client.cookies.set("leap_connect_portal", cookie or "")
    again = await signed_in.client.get("/portal/connect")
    assert again.status_code == 303
    assert again.headers["location"] == "/portal/sign-in"


@pytest.mark.parametrize(
    ("column", "age"),
    [
        ("last_seen_at", IDLE_TIMEOUT + timedelta(seconds=1)),
        ("created_at", ABSOLUTE_LIFETIME + timedelta(seconds=1)),
    ],
    ids=["idle", "absolute"],
)
async def test_an_expired_session_sends_the_user_back_to_sign_in(
    signed_in: Portal, runtime: Runtime, column: str, age: timedelta
) -> None:
    past = utc_now() - age
    values = (
        {"last_seen_at": past}
        if column == "last_seen_at"
        else {"created_at": past, "expires_at": past + ABSOLUTE_LIFETIME, "last_seen_at": utc_now()}
    )
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(update(PortalSession).values(**values))

    response = await signed_in.client.get("/portal/meters")

    assert response.status_code == 303
    assert response.headers["location"] == "/portal/sign-in?next=/portal/meters&reason=expired"
    page = await signed_in.open(response.headers["location"])
    assert "Your session has ended. Please sign in again." in page.text


async def test_using_the_portal_keeps_a_session_alive_past_the_idle_timeout(
    signed_in: Portal, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as db, db.begin():
        await db.execute(update(PortalSession).values(last_seen_at=utc_now() - IDLE_TIMEOUT / 2))

    assert (await signed_in.client.get("/portal/sessions")).status_code == 200

    [stored] = await stored_sessions(runtime)
    assert utc_now() - stored.last_seen_at < timedelta(minutes=1)


async def test_a_visitor_is_sent_to_sign_in_and_then_back_to_the_page_they_asked_for(
    portal: Portal, admin: User
) -> None:
    first = await portal.client.get("/portal/sessions")
    assert first.status_code == 303
    assert first.headers["location"] == "/portal/sign-in?next=/portal/sessions"

    response = await portal.sign_in(ADMIN_EMAIL, next_path="/portal/sessions")

    assert response.headers["location"] == "/portal/sessions"


@pytest.mark.parametrize("next_path", ["//evil.example/", "https://evil.example/", "/demo/x"])
async def test_sign_in_never_sends_anyone_off_the_portal(
    portal: Portal, admin: User, next_path: str
) -> None:
    response = await portal.sign_in(ADMIN_EMAIL, next_path=next_path)
    assert response.headers["location"] == "/portal/connect"


async def test_a_next_path_with_anything_after_a_safe_path_is_not_followed(
    portal: Portal, admin: User
) -> None:
    page = await portal.open("/portal/sign-in?next=/portal/sessions%0A")
    assert page.document.xpath("//input[@name='next']/@value") in ([], [""])

    response = await portal.client.post(
        "/portal/sign-in",
        data={
            "email": ADMIN_EMAIL,
            "password": PASSWORD,
            "csrf_token": csrf_of(page),
            "next": "/portal/sessions\n",  # a line break, as `%0A` decodes
        },
    )

    assert response.headers["location"] == "/portal/connect"


async def test_a_sign_in_form_without_its_csrf_token_is_refused(
    portal: Portal, admin: User, runtime: Runtime
) -> None:
    await portal.open("/portal/sign-in")  # the browser cookie is set, but no token is sent

    for token in ({}, {"csrf_token": "é"}):
        response = await portal.client.post(
            "/portal/sign-in", data={"email": ADMIN_EMAIL, "password": PASSWORD, **token}
        )

        assert response.status_code == 403
        assert "This form has expired or was not sent from this page" in Page(response).text
    assert await stored_sessions(runtime) == []


async def test_signed_in_forms_without_the_sessions_csrf_token_are_refused(
    signed_in: Portal, partner: Partner, runtime: Runtime
) -> None:
    # The sign-in form's token (bound to the browser cookie) is no token for a signed-in form.
    browser = signed_in.client.cookies.get("leap_connect_browser")
    assert browser
    sign_in_token = csrf_token(runtime.secret_key, browser)

    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": "é"}, {"csrf_token": sign_in_token}):
        out = await signed_in.client.post("/portal/sign-out", data=data)
        assert out.status_code == 403
        link = await signed_in.client.post(
            "/portal/connect/links", data={**data, "flow": "ca-homes", "ref_id": "x"}
        )
        assert link.status_code == 403
    assert len(await stored_sessions(runtime)) == 1


async def test_after_a_wrong_password_the_next_try_still_goes_to_the_page_asked_for(
    portal: Portal, admin: User
) -> None:
    refused = Page(await portal.sign_in(ADMIN_EMAIL, "wrong password", next_path="/portal/meters"))
    [next_field] = refused.document.xpath("//input[@name='next']/@value")
    assert next_field == "/portal/meters"

    response = await portal.sign_in(ADMIN_EMAIL, next_path="/portal/meters")

    assert response.headers["location"] == "/portal/meters"


async def test_the_hourly_clean_up_deletes_only_sessions_that_ran_out(
    signed_in: Portal, runtime: Runtime, admin: User
) -> None:
    now = utc_now()
    async with runtime.sessionmaker() as db, db.begin():
        db.add_all(
            [
                PortalSession(
                    token_hmac=f"{name:0<64}",
                    user_id=admin.id,
                    created_at=created,
                    last_seen_at=seen,
                    expires_at=created + ABSOLUTE_LIFETIME,
                )
                for name, created, seen in [
                    ("idle", now - timedelta(hours=1), now - IDLE_TIMEOUT),
                    ("old", now - ABSOLUTE_LIFETIME, now),
                ]
            ]
        )

    async with runtime.sessionmaker() as db, db.begin():
        context = JobContext(
            session=db,
            job=Job(kind="portal.delete_expired_sessions", payload={}),
            runtime=runtime,
            worker_id="test",
        )
        await delete_expired_portal_sessions(context, {})

    [kept] = await stored_sessions(runtime)
    assert not kept.token_hmac.startswith(("idle", "old"))
    assert (await signed_in.client.get("/portal/connect")).status_code == 200
