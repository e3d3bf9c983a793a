"""`/healthz` (the process answers), `/readyz` (it can take more work) and `/metrics`."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from leap_connect.db import ping
from leap_connect.deps import RuntimeDep
from leap_connect.kit.admission import Admission
from leap_connect.kit.problems import NotFound, Unauthorized
from leap_connect.runtime import Runtime

router = APIRouter(include_in_schema=False)


def admission_of(runtime: Runtime) -> Admission:
    """The process's request slots (kit/admission.py), which /readyz reports on."""
    return runtime.keep(Admission, lambda: Admission(runtime.settings.max_concurrent_requests))


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    admission = admission_of(runtime)
    if admission.saturated:
        # Every slot busy and as many requests again waiting: a balancer that sends the next
        # customers to another process serves them sooner.
        return JSONResponse(
            {
                "status": "saturated",
                "requests_running": admission.running,
                "requests_waiting": admission.waiting,
            },
            status_code=503,
            headers={"Retry-After": "1"},
        )
    try:
        await ping(runtime.engine)
    except Exception as error:  # any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "database": type(error).__name__},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    token = runtime.settings.metrics_token
    if token is None:
        if not runtime.settings.is_development:
            # Request counts by route and status are for the operator alone: without a token to
            # ask for, production has no /metrics to find.
            raise NotFound("We could not find this page. Please check the link you were given.")
    elif not _bears(request, token.get_secret_value()):
        raise Unauthorized(
            "Send the metrics token as `Authorization: Bearer <token>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _bears(request: Request, token: str) -> bool:
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(sent.encode(), token.encode())
