"""The one Jinja2 environment for every server-rendered page (journey, errors, portal)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from leap_connect.kit import i18n

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [
    PACKAGE_DIR / "connect" / "templates",
    PACKAGE_DIR / "portal" / "templates",
    PACKAGE_DIR / "demo" / "templates",
]


@cache
def templates() -> Jinja2Templates:
    """The process's one template environment (templates ship with the package: no reloading)."""
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(path)) for path in TEMPLATE_DIRS]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the package and change only with a new release: no stat() per page.
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    # Customer pages speak the request's language (kit/i18n.py); `translate` is for messages
    # written elsewhere (a form's errors), looked up as they are.
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    environment.filters["translate"] = i18n.gettext
    environment.filters["long_date"] = i18n.long_date
    environment.globals["current_language"] = i18n.current_language
    environment.globals["languages"] = i18n.LANGUAGES
    environment.globals["switch_language_url"] = i18n.switch_url
    environment.filters["support_href"] = support_href
    environment.filters["support_label"] = support_label
    return Jinja2Templates(env=environment)


def support_href(contact: str) -> str:
    """A partner's support contact as a link: `mailto:` for an e-mail address, else the URL."""
    return contact if contact.startswith("https://") else f"mailto:{contact}"


def support_label(contact: str) -> str:
    """The contact as a customer reads it: the address, or the URL without its scheme."""
    return contact.removeprefix("https://").rstrip("/")
