"""`/docs`: the OpenAPI document in Swagger UI, served from this instance (no CDN, no inline
script), so the strict Content-Security-Policy holds on the page too."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from leap_connect.kit.problems import NotFound

router = APIRouter(include_in_schema=False)

_OWN_ASSETS = files("leap_connect.api") / "static"
_ASSET_TYPES = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
}
_CACHE = {"Cache-Control": "public, max-age=86400"}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Leap Connect API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/docs.js"></script>
</body>
</html>
"""


def _swagger_ui() -> Traversable:
    vendor = files("swagger_ui_bundle") / "vendor"
    return next(item for item in vendor.iterdir() if item.name.startswith("swagger-ui-"))


@router.get("/docs")
async def docs() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> Response:
    media_type = _ASSET_TYPES.get(name)
    if media_type is None:
        raise NotFound("There is no such file.")
    return Response(_asset(name), media_type=media_type, headers=_CACHE)


@cache
def _asset(name: str) -> bytes:
    directory = _OWN_ASSETS if name == "docs.js" else _swagger_ui()
    return (directory / name).read_bytes()
