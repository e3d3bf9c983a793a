"""The partner API's signed agreements (/v2/agreements, /v2/meters/{meter_id}/agreements)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
