"""The partner API's connect operations: flows, links and connection statuses (/v2/connect)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
