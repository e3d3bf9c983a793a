"""The partner API's webhook endpoints and their delivery log (/v2/webhooks)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
