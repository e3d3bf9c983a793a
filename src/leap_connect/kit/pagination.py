"""Keyset pagination: an opaque page token, signed and bound to one organization and one search."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from leap_connect.kit.crypto import sign, signature_ok
from leap_connect.kit.problems import LeapConnectError

T = TypeVar("T")

MAX_PAGE_TOKEN_LENGTH = 1000


class BadPageToken(LeapConnectError):
    title = "Bad page token"
    type_slug = "bad-page-token"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last item's `(created_at, id)`, in newest-first order."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_position: Position | None


def page_of(rows: Sequence[T], page_size: int, position_of: Callable[[T], Position]) -> Page[T]:
    """Cut rows fetched with `limit=page_size + 1`: one more row than a page means another page."""
    items = list(rows[:page_size])
    more = len(rows) > page_size
    return Page(items, position_of(items[-1]) if more and items else None)


def search_fingerprint(filters: Mapping[str, Any]) -> str:
    """A short digest of a search's filters: a token only continues the search that made it."""
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def encode_page_token(
    secret_key: str,
    *,
    kind: str,
    organization_id: uuid.UUID,
    fingerprint: str,
    position: Position,
) -> str:
    payload = json.dumps(
        {"c": position.created_at.astimezone(UTC).isoformat(), "i": position.id.hex},
        separators=(",", ":"),
    )
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    signature = sign(secret_key, _message(kind, organization_id, fingerprint, body))
    return f"{body}.{signature}"


def next_page_token(
    secret_key: str,
    page: Page[Any],
    *,
    kind: str,
    organization_id: uuid.UUID,
    fingerprint: str,
) -> str | None:
    """The token for the page after `page`, or None when it was the last."""
    if page.next_position is None:
        return None
    return encode_page_token(
        secret_key,
        kind=kind,
        organization_id=organization_id,
        fingerprint=fingerprint,
        position=page.next_position,
    )


def decode_page_token(
    token: str,
    secret_key: str,
    *,
    kind: str,
    organization_id: uuid.UUID,
    fingerprint: str,
) -> Position:
    """The position a token carries; a token altered, from elsewhere or for other filters: 400."""
    body, _, signature = token.partition(".")
    if (
        len(token) > MAX_PAGE_TOKEN_LENGTH
        or not body
        or not signature.isascii()
        or not signature_ok(
            secret_key, _message(kind, organization_id, fingerprint, body), signature
        )
    ):
        raise _bad_token()
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        created_at = datetime.fromisoformat(payload["c"])
        return Position(created_at.astimezone(UTC), uuid.UUID(hex=payload["i"]))
    except (binascii.Error, ValueError, KeyError, TypeError):  # signed by us: should not happen
        raise _bad_token() from None


def _message(kind: str, organization_id: uuid.UUID, fingerprint: str, body: str) -> str:
    return f"page_token:{kind}:{organization_id}:{fingerprint}:{body}"


def _bad_token() -> BadPageToken:
    return BadPageToken(
        "page_token is not valid for this search. Pass the next_page_token of the previous "
        "page unchanged, with the same filters.",
        errors=[{"field": "page_token", "message": "not a page token of this search"}],
    )
