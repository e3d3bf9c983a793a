"""The partner portal's pages at /portal: one router for the sign-in pages and the tabs.

A tab is a module in this package with a `PageRouter`, whose handler is decorated with
`@router.tab(path, label)`, plus a template extending `portal/base.html`; listing the module's
router in `include_pages` below adds it to the navigation, in that order. With `admin_only=True`
the tab keeps members out (also by URL). Pages below a tab use `PortalCallerDep` or `AdminDep`.
"""

from __future__ import annotations

from fastapi import APIRouter

from leap_connect.portal.pages import (
    connect_tab,
    developers_tab,
    meters_tab,
    sessions_tab,
    sign_in,
)
from leap_connect.portal.pages.layout import include_pages

router = APIRouter()
include_pages(
    router,
    sign_in.router,
    connect_tab.router,
    meters_tab.router,
    sessions_tab.router,
    developers_tab.router,
)
