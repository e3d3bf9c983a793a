"""Which URLs may be redirect targets: https only, plain http to localhost in development."""

from __future__ import annotations

from urllib.parse import urlsplit

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


def redirect_url_problem(url: str, *, development: bool) -> str | None:
    """Why `url` cannot be a thank-you URL, or None when it can."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f'"{url}" is not a URL.'
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        if development:
            return None
        return "Plain http:// thank-you URLs are allowed only in development; use https://."
    if not parts.hostname:
        return f'"{url}" is not an absolute URL.'
    return "The thank-you URL must start with https://."
