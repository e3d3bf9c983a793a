"""The journey's terms step: one page per document to review and e-sign."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
