"""What every portal page shares: its router and tabs, the signed-in layout, and reading forms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.datastructures import FormData

from leap_connect.kit.templating import templates
from leap_connect.kit.text import text_problem
from leap_connect.models import utc_now
from leap_connect.portal import wording
from leap_connect.portal.auth import PortalCaller
from leap_connect.portal.deps import require_admin

PREFIX = "/portal"

Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclass(frozen=True)
class Tab:
    path: str
    label: str
    admin_only: bool = False


# The navigation, in the order `include_pages` is given the pages.
TABS: list[Tab] = []


def plain_query(request: Request) -> None:
    """Every query parameter (a filter, a flow) passes `text_problem` before any query sees it.

    PostgreSQL refuses a NUL; refused here, it is the error page naming the parameter.
    """
    errors = [
        {"type": "value_error", "loc": ("query", name), "msg": problem}
        for name, value in request.query_params.multi_items()
        if (problem := text_problem(value, "The value"))
    ]
    if errors:
        raise RequestValidationError(errors)


class PageRouter(APIRouter):
    """The routes of one module of `portal/pages/`, under /portal, with the tabs it defines."""

    def __init__(self) -> None:
        super().__init__(
            prefix=PREFIX, include_in_schema=False, dependencies=[Depends(plain_query)]
        )
        self.tabs: list[Tab] = []

    def tab(
        self, path: str, label: str, *, admin_only: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register a GET handler as a tab of the portal's navigation."""
        self.tabs.append(Tab(f"{self.prefix}{path}", label, admin_only))
        dependencies = [Depends(require_admin)] if admin_only else []
        return self.get(path, dependencies=dependencies)


def include_pages(router: APIRouter, *pages: PageRouter) -> None:
    """Add the pages' routes to `router`, and their tabs to the navigation, in this order."""
    for page in pages:
        router.include_router(page)
        TABS.extend(page.tabs)


def render(
    request: Request,
    caller: PortalCaller,
    template: str,
    values: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A signed-in page: the layout gets the caller, the organization's branding and the tabs."""
    current = next((t for t in TABS if _within(request.url.path, t.path)), None)
    response: HTMLResponse = templates().TemplateResponse(
        request,
        template,
        {
            "caller": caller,
            "organization": caller.organization,
            "brand_color": caller.organization.brand_color,
            "tabs": [t for t in TABS if caller.is_admin or not t.admin_only],
            "current_tab": current,
            "csrf_token": caller.csrf_token,
            "words": wording,
            **(values or {}),
        },
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
    return response


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def form_texts(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]


def csv_download(rows: AsyncIterator[str], name: str) -> StreamingResponse:
    """A CSV file sent as it is written, named for what it holds and today's date."""
    filename = f"{name}-{utc_now().date().isoformat()}.csv"
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def confirmed(form: FormData) -> bool:
    """Whether the admin confirmed a destructive action, in the panel beside its button or on the
    confirmation page (`portal/_confirm.html`)."""
    return form_text(form, "confirmed") == "yes"


def confirmation_page(
    request: Request, caller: PortalCaller, action: str, subject: object, cancel_url: str
) -> HTMLResponse:
    """The page that asks again, naming what stops working: where a form came unconfirmed."""
    return render(
        request,
        caller,
        "portal/confirm.html",
        {"action": action, "subject": subject, "cancel_url": cancel_url},
    )
