"""One webhook request: its signed body and headers, the call within limits, and when to retry."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog
from standardwebhooks.webhooks import Webhook

from leap_connect.kit.http import HttpClientFactory
from leap_connect.models import WebhookEvent
from leap_connect.runtime import Runtime
from leap_connect.settings import Settings
from leap_connect.webhooks.ssrf import (
    PublicAddressesOnlyTransport,
    RefusedTarget,
    Resolver,
    resolve,
    url_problem,
)

log = structlog.get_logger("leap_connect.webhooks")

# Headers the sender sets (here, in the client, or in httpx), and those that would change how the
# request is framed or routed: a partner's static headers may not be named like any of them.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "accept",
        "accept-encoding",
        "user-agent",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
MAX_RESPONSE_BYTES = 64 * 1024
RESPONSE_EXCERPT_CHARS = 200
ERROR_LIMIT = 1000  # webhook_delivery_attempts.error is a VARCHAR(1000)
# Enough connections that a worker running many deliveries at once to one partner reuses them.
LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=30)


def event_body(event: WebhookEvent) -> bytes:
    """The JSON body of every delivery of `event`: the same bytes on every attempt."""
    body = {
        "webhook_event_id": str(event.id),
        "created_at": _iso(event.created_at),
        "payload": event.payload,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signature_header(
    secrets: Sequence[str], *, message_id: str, timestamp: datetime, body: bytes
) -> str:
    """`webhook-signature`: one `v1,<base64 HMAC>` per secret, space-separated (Standard Webhooks).

    During a secret rotation both the new and the previous secret sign, so a receiver verifies
    with whichever it has.
    """
    data = body.decode()
    return " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=data)
        for secret in secrets
    )


def request_headers(
    *,
    static_headers: Mapping[str, str],
    message_id: str,
    timestamp: datetime,
    signature: str,
) -> dict[str, str]:
    """Every header of one request, each name once whatever its case.

    A static header named like a reserved one (stored before that name was refused) is left
    out, as is a second one differing only in case: nothing is ever sent twice.
    """
    headers = {
        "content-type": "application/json",
        # Uncompressed answers, so the 64 KiB read limit bounds memory too.
        "accept-encoding": "identity",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    for name, value in sendable_headers(static_headers).items():
        headers[name] = value
    return headers


def sendable_headers(static_headers: Mapping[str, str]) -> dict[str, str]:
    """The static headers a delivery carries: none reserved, no name twice (ignoring case)."""
    sendable: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in static_headers.items():
        if name.lower() in RESERVED_HEADERS or name.lower() in seen:
            continue
        seen.add(name.lower())
        sendable[name] = value
    return sendable


def retry_delay(failed_retries: int, delays: Sequence[float]) -> timedelta | None:
    """How long to wait after an attempt that had `failed_retries` failed ones before it in its run.

    None when the schedule is used up: the delivery has failed.
    """
    if failed_retries >= len(delays):
        return None
    return timedelta(seconds=max(delays[failed_retries], 0.0))


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt made: its delivery, its number, and the schedule's retries used before it."""

    delivery_id: uuid.UUID
    number: int
    scheduled_retries: int
    attempted_at: datetime
    outcome: Outcome


def create_client(settings: Settings, *, resolver: Resolver = resolve) -> httpx.AsyncClient:
    """The client a worker sends webhooks with, for as long as it runs (it pools connections).

    It connects only to public addresses; in development to loopback ones too, so tests and the
    demo can use a receiver on localhost, but never to link-local, private or metadata ones.
    """
    transport = PublicAddressesOnlyTransport(
        limits=LIMITS, resolver=resolver, development=settings.is_development
    )
    factory = HttpClientFactory(timeout=settings.webhook_timeout_seconds, transport=transport)
    return factory.client()


@dataclass(eq=False)
class WebhookClient:
    """The process's client for webhooks, kept in its runtime so connections to partners are
    reused for as long as it runs; tests may put one of their own there."""

    client: httpx.AsyncClient

    async def aclose(self) -> None:
        await self.client.aclose()


def webhook_client(runtime: Runtime) -> WebhookClient:
    return runtime.keep(WebhookClient, lambda: WebhookClient(create_client(runtime.settings)))


async def send(
    client: httpx.AsyncClient,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    time_limit: float,
    development: bool,
) -> Outcome:
    """POST the webhook; success is a 2xx answered, body and all, within `time_limit` seconds.

    The URL is judged first by the rules it was registered under (`url_problem`), so one stored
    before a rule is refused with a reason like any failure. Redirects are not followed (the
    client never follows them) and count as failures; at most 64 KiB of the answer is read. Every
    failure, even one nobody foresaw, is an outcome with its reason, never an exception.
    """
    started = time.perf_counter()
    status_code: int | None = None
    excerpt = ""
    location: str | None = None
    error: str | None
    try:
        problem = url_problem(url, development=development)
        if problem is not None:
            raise RefusedTarget(problem)
        async with asyncio.timeout(time_limit):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                status_code = response.status_code
                excerpt = _excerpt(response, await _read_limited(response))
                location = response.headers.get("location")
    except (TimeoutError, httpx.TimeoutException):
        error = f"no complete answer within {time_limit:g} s"
    except RefusedTarget as refused:
        error = f"refused: {refused}"
    except httpx.HTTPError as failed:
        error = _describe_transport_error(failed)
    except Exception as unforeseen:  # logged, and recorded as the attempt's failure
        log.exception("webhook_send_failed")
        error = f"could not send: {type(unforeseen).__name__}: {unforeseen}"
    else:
        error = _status_problem(status_code, excerpt, location)
    duration_ms = round((time.perf_counter() - started) * 1000)
    return Outcome(
        status_code=status_code,
        duration_ms=duration_ms,
        error=error[:ERROR_LIMIT] if error is not None else None,
    )


async def _read_limited(response: httpx.Response) -> bytes:
    received = bytearray()
    # Raw bytes as they arrive: nothing decompressed, so nothing can grow past the limit.
    async for chunk in response.aiter_raw():
        received += chunk[: MAX_RESPONSE_BYTES - len(received)]
        if len(received) >= MAX_RESPONSE_BYTES:
            break  # leaving the block closes the connection instead of reading the rest
    return bytes(received)


def _excerpt(response: httpx.Response, content: bytes) -> str:
    if response.headers.get("content-encoding", "identity") != "identity":
        return ""
    text = content[: RESPONSE_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return " ".join(text.split())[:RESPONSE_EXCERPT_CHARS]


def _status_problem(status_code: int | None, excerpt: str, location: str | None) -> str | None:
    assert status_code is not None
    if 200 <= status_code < 300:
        return None
    problem = f"HTTP {status_code}"
    if 300 <= status_code < 400:
        problem += " (redirects are not followed"
        problem += f"; Location: {location})" if location else ")"
    return f"{problem}: {excerpt}" if excerpt else problem


def _describe_transport_error(error: httpx.HTTPError) -> str:
    detail = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
        return f"could not connect: {detail}"
    return f"{type(error).__name__}: {detail}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
