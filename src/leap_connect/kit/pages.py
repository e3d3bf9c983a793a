"""The friendly HTML error page every journey and portal error is shown on, and the one way to
answer an error: that page for people, a problem document for programs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from leap_connect.kit.problems import problem_response
from leap_connect.kit.templating import templates

# Paths programs call: the partner API, its description, and the utilities' webhooks.
API_PREFIXES = ("/v2", "/openapi.json", "/connect/webhooks")


def is_api_path(path: str) -> bool:
    # Whole segments: a partner may be named "v2x", and its links are pages.
    return any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES)


def error_page(
    request: Request,
    status_code: int,
    title: str,
    message: str,
    *,
    details: list[str] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> HTMLResponse:
    response: HTMLResponse = templates().TemplateResponse(
        request,
        "error.html",
        {
            "title": title,
            "message": message,
            "details": details or [],
            "request_id": request.scope.get("state", {}).get("request_id"),
            **extra,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
    return response


def error_response(
    request: Request,
    status_code: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    type_slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    page_message: str | None = None,
) -> Response:
    """A problem document on an API path, the error page (saying `page_message`) elsewhere."""
    if is_api_path(request.url.path):
        return problem_response(
            status_code, title, detail, type_slug=type_slug, errors=errors, headers=headers
        )
    return error_page(request, status_code, title, page_message or detail, headers=headers)
