"""Every `/v2` operation of the partner API, from the domains that own them; and `/docs`."""

from __future__ import annotations

from fastapi import APIRouter

from leap_connect.api.docs import router as docs_router
from leap_connect.connect.api import router as connect_router
from leap_connect.esign.api import router as agreements_router
from leap_connect.meters.endpoints import router as meters_router
from leap_connect.webhooks.endpoints import router as webhooks_router

router = APIRouter()
router.include_router(meters_router)
router.include_router(connect_router)
router.include_router(agreements_router)
router.include_router(webhooks_router)
router.include_router(docs_router)
