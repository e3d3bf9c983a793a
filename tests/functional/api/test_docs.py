"""`/docs` renders the OpenAPI document with assets from this instance, inside the strict CSP."""

from __future__ import annotations

import httpx
import lxml.html


async def test_docs_page_loads_swagger_ui_from_this_instance_only(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    document = lxml.html.fromstring(page.text)
    scripts = document.xpath("//script")
    assert scripts and all(script.get("src", "").startswith("/docs/assets/") for script in scripts)
    assert all(not (script.text or "").strip() for script in scripts)  # no inline script
    stylesheets = [link.get("href") for link in document.xpath("//link[@rel='stylesheet']")]
    for asset in [*(script.get("src") for script in scripts), *stylesheets]:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100
    initializer = await client.get("/docs/assets/docs.js")
    assert "/openapi.json" in initializer.text
    assert (await client.get("/docs/assets/../../settings.py")).status_code == 404
    assert (await client.get("/docs/assets/secret.txt")).status_code == 404
