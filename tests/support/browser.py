"""A cookie-keeping HTTP client that reads pages and submits their forms, as a script would."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import lxml.html


@dataclass
class Page:
    response: httpx.Response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def url(self) -> str:
        return str(self.response.url)

    @property
    def text(self) -> str:
        return " ".join(self.document.text_content().split())

    @property
    def document(self) -> lxml.html.HtmlElement:
        return lxml.html.fromstring(self.response.text)

    def form_with_button(self, name: str, value: str) -> lxml.html.FormElement:
        for form in self.document.forms:
            for button in form.xpath(".//button[@type='submit' or not(@type)]"):
                if button.get("name") == name and button.get("value") == value:
                    return form
        raise AssertionError(f"no form with a {name}={value} button on {self.url}")

    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)


class Browser:
    """Follows redirects itself so tests can see each hop (a 303 to the utility, for one)."""

    def __init__(self, client: httpx.AsyncClient, *, also_follow: tuple[str, ...] = ()) -> None:
        self.client = client
        self.history: list[httpx.Response] = []
        # Origins besides the app's that redirects may lead to (a utility on another server).
        self.follow_origins = (str(client.base_url).rstrip("/"), *also_follow)

    async def open(self, url: str, *, follow: bool = True) -> Page:
        response = await self.client.get(url)
        return await self._settle(response, follow)

    async def submit(
        self,
        page: Page,
        *,
        button: tuple[str, str],
        fields: dict[str, str] | None = None,
        follow: bool = True,
    ) -> Page:
        form = page.form_with_button(*button)
        data = {name: value for name, value in form.form_values() if value is not None}
        data.update(fields or {})
        data[button[0]] = button[1]
        action = urljoin(page.url, form.get("action") or page.url)
        response = await self.client.post(action, data=data)
        return await self._settle(response, follow)

    async def _settle(self, response: httpx.Response, follow: bool) -> Page:
        self.history.append(response)
        hops = 0
        while follow and response.is_redirect and hops < 10:
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.follow_origins):
                break  # leaving for the partner's thank-you page: stop and let the test look
            response = await self.client.get(location)
            self.history.append(response)
            hops += 1
        return Page(response)
