"""The languages customer pages speak: gettext catalogs read with Babel, the language of the request
being answered, and the functions templates and pages translate with.

Catalogs are the `.po` files in `leap_connect/locale/<language>/LC_MESSAGES/messages.po`, compiled
in memory the first time a language is used, so a fresh checkout needs no build step. A request's
language is, in order: `?lang=` (which the page's language switch sets, and which is then kept in a
cookie for the browser's session), that cookie, and the browser's `Accept-Language`.
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import date
from functools import cache
from http.cookies import SimpleCookie
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_LANGUAGE = "en"
# Each language's name in itself, as the switch offers it.
LANGUAGES: Mapping[str, str] = {"en": "English", "es": "Español"}
LANGUAGE_COOKIE = "lc_language"

_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> gettext_module.NullTranslations:
    """The language's catalog (English, the source language, translates to itself)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return gettext_module.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def current_language() -> str:
    return _language.get()


def gettext(message: str) -> str:
    """`message` in the language of the request being answered."""
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    return translations(_language.get()).ngettext(singular, plural, count)


_ = gettext


def N_(message: str) -> str:
    """Marks `message` for the catalog; it is translated where it is shown."""
    return message


def long_date(moment: date) -> str:
    """ "December 4, 2026", "4 de diciembre de 2026"."""
    return format_date(moment, "long", locale=_language.get())


def use_language(language: str) -> None:
    """Speak `language` for the rest of this request (or test)."""
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def negotiate(accept_language: str) -> str:
    """The best of our languages for an `Accept-Language` header (RFC 9110 §12.5.4)."""
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for position, item in enumerate(accept_language.split(",")[:20]):
        tag, _sep, parameters = item.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        language = tag.strip().lower().split("-")[0]
        # Earlier wins among equals: the browser lists what it prefers first.
        if language in LANGUAGES and quality > best_quality and quality > 0:
            best, best_quality = language, quality - position * 1e-6
    return best


def switch_url(path: str, query: str, language: str) -> str:
    """This page's address in `language`: the same query, with `lang` set."""
    params = [(key, value) for key, value in parse_qsl(query, keep_blank_values=True)]
    params = [(key, value) for key, value in params if key != "lang"] + [("lang", language)]
    return f"{path}?{urlencode(params)}"


class LanguageMiddleware:
    """Chooses the language of each request to a page `translated` names, and keeps a chosen one
    in a cookie for the session; every other path (the portal, the API) stays in English."""

    def __init__(self, app: ASGIApp, *, secure: bool, translated: Callable[[str], bool]) -> None:
        self.app = app
        self.secure = secure
        self.translated = translated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.translated(scope["path"]):
            use_language(DEFAULT_LANGUAGE)
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value for key, value in scope["headers"]}
        asked = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("lang")
        chosen = asked if asked in LANGUAGES else None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", b"").decode("latin-1"))
        except Exception:  # a cookie header we cannot read chooses nothing
            cookie = SimpleCookie()
        kept = cookie[LANGUAGE_COOKIE].value if LANGUAGE_COOKIE in cookie else None
        language = (
            chosen
            or (kept if kept in LANGUAGES else None)
            or negotiate(headers.get("accept-language", b"").decode("latin-1"))
        )
        use_language(language)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and chosen and chosen != kept:
                response_headers = MutableHeaders(scope=message)
                attributes = "; Path=/; SameSite=Lax; HttpOnly" + (
                    "; Secure" if self.secure else ""
                )
                response_headers.append("Set-Cookie", f"{LANGUAGE_COOKIE}={chosen}{attributes}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)
