"""What both sandbox sign-in pages share: reading their forms and sending the customer back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode, urlsplit

from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData, QueryParams


def multi(params: QueryParams | FormData) -> dict[str, list[str]]:
    """Every value of every parameter, so a repeated one can be refused (RFC 6749 §3.1)."""
    return {
        key: [value for value in params.getlist(key) if isinstance(value, str)] for key in params
    }


def one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The parameter's value when it is given exactly once and not empty."""
    values = params.get(name, ())
    return values[0] if len(values) == 1 and values[0] else None


def redirect_back(redirect_uri: str, params: Mapping[str, str | None]) -> RedirectResponse:
    query = urlencode({name: value for name, value in params.items() if value is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    # 303 so a browser that POSTed the sign-in form follows with a GET.
    return RedirectResponse(
        f"{redirect_uri}{separator}{query}",
        status_code=303,
        headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )


def declined(redirect_uri: str, state: str | None) -> RedirectResponse:
    """The customer pressed Deny: both protocols answer `error=access_denied`."""
    return redirect_back(
        redirect_uri,
        {
            "error": "access_denied",
            "error_description": "The customer declined to share their data.",
            "state": state,
        },
    )
