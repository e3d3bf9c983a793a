"""The partner API's meter operations (/v2/meters)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
