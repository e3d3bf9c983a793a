"""The one Jinja2 environment for every server-rendered page (journey, errors, portal)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

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
    )
    return Jinja2Templates(env=environment)
