"""What a partner may set on an endpoint."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from leap_connect.webhooks.events import EVENT_TYPES
from leap_connect.webhooks.schemas import WebhookEndpointIn


def test_every_documented_event_type_can_be_subscribed_to() -> None:
    endpoint = WebhookEndpointIn(url="https://p.example/h", event_types=list(EVENT_TYPES))

    assert endpoint.event_types == list(EVENT_TYPES)
    assert endpoint.enabled is True
    assert endpoint.headers == {}


@pytest.mark.parametrize(
    "headers",
    [
        {"Webhook-Signature": "forged"},
        {"Content-Type": "text/plain"},
        {"Host": "elsewhere.example"},
        {"Accept-Encoding": "gzip"},
        {"Accept": "text/html"},
        {"Transfer-Encoding": "chunked"},
        {"X-Gateway-Key": "a", "x-gateway-key": "b"},
        {"X-Bad Header": "x"},
        {"X-Newline": "a\r\nInjected: yes"},
        {f"X-H{number}": "x" for number in range(21)},
    ],
)
def test_static_headers_cannot_forge_or_break_the_request(headers: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        WebhookEndpointIn(url="https://p.example/h", event_types=["meter.created"], headers=headers)


def test_ping_is_not_an_event_type_to_subscribe_to() -> None:
    with pytest.raises(ValidationError):
        WebhookEndpointIn.model_validate({"url": "https://p.example/h", "event_types": ["ping"]})
