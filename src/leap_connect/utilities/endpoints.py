"""Endpoints utilities call: UtilityAPI's webhooks (/connect/webhooks/utilityapi)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
