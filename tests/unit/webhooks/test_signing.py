"""Signed requests verify with the `standardwebhooks` library, with either secret in a rotation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leap_connect.kit.crypto import Encryptor, generate_encryption_key
from leap_connect.models import WebhookEndpoint, WebhookEvent, utc_now
from leap_connect.webhooks.delivery import event_body, request_headers, signature_header
from leap_connect.webhooks.service import generate_secret, signing_secrets


def an_event(payload: dict[str, object]) -> WebhookEvent:
    return WebhookEvent(
        id=uuid.UUID("4f1c8a52-0d3e-4d8e-9a55-2f6b1c7d9e10"),
        organization_id=uuid.uuid4(),
        event_type="meter.created",
        payload={"webhook_event_type": "meter.created", **payload},
        created_at=datetime(2026, 11, 28, 10, 0, 1, 250000, tzinfo=UTC),
    )


def signed(secrets: list[str], body: bytes, timestamp: datetime) -> dict[str, str]:
    message_id = "4f1c8a52-0d3e-4d8e-9a55-2f6b1c7d9e10"
    return request_headers(
        static_headers={"X-Partner": "p"},
        message_id=message_id,
        timestamp=timestamp,
        signature=signature_header(secrets, message_id=message_id, timestamp=timestamp, body=body),
    )


def test_the_body_is_the_documented_envelope() -> None:
    body = event_body(an_event({"meter": {"meter_id": "m-1"}}))

    assert json.loads(body) == {
        "webhook_event_id": "4f1c8a52-0d3e-4d8e-9a55-2f6b1c7d9e10",
        "created_at": "2026-11-28T10:00:01.250000Z",
        "payload": {"webhook_event_type": "meter.created", "meter": {"meter_id": "m-1"}},
    }


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=10), st.text(max_size=50) | st.integers(), max_size=5
    )
)
def test_any_payload_verifies_with_the_library_and_reads_back_unchanged(
    payload: dict[str, object],
) -> None:
    secret = generate_secret()
    body = event_body(an_event({"data": payload}))

    verified = Webhook(secret).verify(body, signed([secret], body, utc_now()))

    assert verified["payload"]["data"] == payload


def test_during_a_rotation_both_secrets_verify_and_others_do_not() -> None:
    new, old, stranger = generate_secret(), generate_secret(), generate_secret()
    body = event_body(an_event({}))
    headers = signed([new, old], body, utc_now())

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(body, headers)
    assert Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)


def test_a_tampered_body_or_an_old_timestamp_does_not_verify() -> None:
    secret = generate_secret()
    body = event_body(an_event({"meter": {"meter_id": "m-1"}}))

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"m-1", b"m-2"), signed([secret], body, utc_now()))
    with pytest.raises(WebhookVerificationError):
        stale = utc_now() - timedelta(minutes=10)
        Webhook(secret).verify(body, signed([secret], body, stale))


def test_static_headers_are_sent_but_cannot_replace_the_signature() -> None:
    headers = request_headers(
        static_headers={"X-Partner": "p"},
        message_id="m",
        timestamp=utc_now(),
        signature="v1,abc",
    )

    assert headers["X-Partner"] == "p"
    assert headers["webhook-signature"] == "v1,abc"
    assert headers["content-type"] == "application/json"


def test_a_stored_static_header_named_like_one_leap_connect_sets_is_never_sent_twice() -> None:
    # Stored before these names were refused: ours are sent, theirs left out, whatever the case.
    headers = request_headers(
        static_headers={
            "Accept-Encoding": "gzip",
            "Webhook-Signature": "v1,forged",
            "USER-AGENT": "partner",
            "X-Partner": "p",
            "x-partner": "q",
        },
        message_id="m",
        timestamp=utc_now(),
        signature="v1,abc",
    )

    names = [name.lower() for name in headers]
    assert len(names) == len(set(names))
    assert headers["accept-encoding"] == "identity"
    assert headers["webhook-signature"] == "v1,abc"
    assert "user-agent" not in names  # the client's own User-Agent is sent
    assert headers["X-Partner"] == "p"


def test_secrets_are_whsec_and_random() -> None:
    secrets = {generate_secret() for _ in range(20)}

    assert len(secrets) == 20
    assert all(secret.startswith("whsec_") for secret in secrets)
    assert all(Webhook(secret) for secret in secrets)  # the library accepts the format


def test_the_previous_secret_signs_only_until_its_window_ends() -> None:
    encryptor = Encryptor(generate_encryption_key())
    now = utc_now()
    endpoint = WebhookEndpoint(
        secret_encrypted=encryptor.encrypt("whsec_new"),
        previous_secret_encrypted=encryptor.encrypt("whsec_old"),
        previous_secret_expires_at=now + timedelta(hours=1),
    )

    assert signing_secrets(endpoint, encryptor, now) == ["whsec_new", "whsec_old"]
    assert signing_secrets(endpoint, encryptor, now + timedelta(hours=2)) == ["whsec_new"]
