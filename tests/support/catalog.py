"""The messages the customer pages translate, as Babel extracts them from templates and code."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract, extract_python
from jinja2.ext import babel_extract

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "leap_connect"
TEMPLATES = sorted((PACKAGE / "connect" / "templates").glob("*.html"))
# The customer pages' own modules: what they say to customers is marked with _, N_ or ngettext.
MODULES = [
    PACKAGE / "app.py",
    PACKAGE / "connect" / "branding.py",
    PACKAGE / "connect" / "links.py",
    PACKAGE / "connect" / "pages.py",
    PACKAGE / "connect" / "progress.py",
]
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}


def extracted_messages() -> dict[str, str]:
    """Each message ID (for ngettext, both forms) and where it was found."""
    found: dict[str, str] = {}
    for path in [*TEMPLATES, *MODULES]:
        method = babel_extract if path.suffix == ".html" else extract_python
        options = {"extensions": "jinja2.ext.i18n"} if path.suffix == ".html" else {}
        with path.open("rb") as source:
            for lineno, message, _comments, _context in extract(
                method, source, keywords=KEYWORDS, options=options
            ):
                for text in message if isinstance(message, tuple) else (message,):
                    if text:
                        found.setdefault(text, f"{path.relative_to(PACKAGE)}:{lineno}")
    return found
