"""Expected errors as exceptions that carry their HTTP status, and RFC 9457 problem responses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from leap_connect.kit.text import displayable

PROBLEM_CONTENT_TYPE = "application/problem+json"


class LeapConnectError(Exception):
    """An error a caller can act on; the message is shown to them as is."""

    status_code = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class NotFound(LeapConnectError):
    status_code = 404
    title = "Not found"
    type_slug = "not-found"


class Unauthorized(LeapConnectError):
    status_code = 401
    title = "Unauthorized"
    type_slug = "unauthorized"


class Forbidden(LeapConnectError):
    status_code = 403
    title = "Forbidden"
    type_slug = "forbidden"


class Conflict(LeapConnectError):
    status_code = 409
    title = "Conflict"
    type_slug = "conflict"


class ValidationFailed(LeapConnectError):
    status_code = 422
    title = "Validation failed"
    type_slug = "validation-failed"


class TooManyRequests(LeapConnectError):
    status_code = 429
    title = "Too many requests"
    type_slug = "too-many-requests"


class ServiceUnavailable(LeapConnectError):
    status_code = 503
    title = "Service unavailable"
    type_slug = "service-unavailable"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    type_slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://leap-connect.dev/problems/{type_slug or _slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(
        _encodable(body), status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE
    )


def _encodable(value: Any) -> Any:
    """`value` with every string made encodable: a message may quote what the caller sent."""
    if isinstance(value, str):
        return displayable(value)
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    return value


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")
