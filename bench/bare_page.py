"""The floor for the landing-page benchmark: a bare Starlette app answering a fixed page.

    BARE_PAGE_FILE=page.html uvicorn bench.bare_page:app

It serves the bytes of `BARE_PAGE_FILE` (the real landing page, saved) with the same content type,
so the only difference from `leap-connect serve` is what Leap Connect does per request.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = Path(os.environ.get("BARE_PAGE_FILE", "page.html")).read_bytes()


async def page(request: Request) -> Response:
    return Response(PAGE, media_type="text/html; charset=utf-8")


app = Starlette(routes=[Route("/{org}/{flow}", page)])
