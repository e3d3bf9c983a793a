"""The friendly HTML error page every journey and portal error is shown on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from leap_connect.kit.templating import templates


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
