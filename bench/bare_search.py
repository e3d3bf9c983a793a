"""The HTTP floor for the meter-search benchmark: a bare Starlette app running the same query.

    BARE_SEARCH_FILE=statements.json uvicorn bench.bare_search:app

`BARE_SEARCH_FILE` (JSON, written by `bench.meter_search`) holds the database's DSN and, by filter
name (`partner_references`, `connection_reference_ids`), the statement the repository sends for a
search by one value: `{"text": ..., "parameters": [...]}`, the value's place marked `"cust-sample"`.
For each request the app reads the body, runs the matching statement (asyncpg prepares it once per
connection) and answers the meters in the API's JSON, byte for byte what `leap-connect serve`
answers (the benchmark checks that). No authentication, ORM, validation or middleware: what is left
is the server, the driver and the encoding.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from pydantic_core import to_json
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leap_connect.utilities.registry import UTILITIES_BY_ID

SAMPLE = "cust-sample"
CONFIG = json.loads(Path(os.environ.get("BARE_SEARCH_FILE", "statements.json")).read_text())


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with asyncpg.create_pool(CONFIG["dsn"], min_size=1, max_size=4) as pool:
        app.state.pool = pool
        yield


def meter(row: asyncpg.Record, references: list[str]) -> dict[str, Any]:
    status = row["status"]
    return {
        "meter_id": row["id"],
        "partner_reference": row["partner_reference"],
        "connection_references": references,
        "transmission_region": row["transmission_region"],
        "customer_classification": row["customer_classification"],
        "meter_type": "UTILITY_METER",
        "utility_is_required": row["utility_is_required"],
        "utility": {
            "utility_id": row["utility_id"],
            "utility_name": UTILITIES_BY_ID[row["utility_id"]].short_name,
            "electric_service_account_number": row["electric_service_account_number"],
            "customer_account_number": row["customer_account_number"],
            "utility_meter_serial_number": row["utility_meter_serial_number"],
            "service_point_id": row["service_point_id"],
            "tariff": row["tariff"],
            "service_class": row["service_class"],
        },
        "customer": {
            name: row[name]
            for name in (
                "end_customer_name",
                "end_customer_email",
                "end_customer_company_name",
                "street_1",
                "street_2",
                "city",
                "state_or_province_code",
                "postal_code",
                "country_code",
            )
        },
        "authorization": {
            "authorization_id": row["id_1"],
            "status": "REVOKED"
            if status == "REVOKED" or row["revoked_at"]
            else "EXPIRED"
            if status == "EXPIRED"
            else "ACTIVE",
            "authorized_at": row["authorized_at"],
            "expires_at": row["expires_at"],
            "scope": row["scope_granted"],
        },
        "is_archived": row["is_archived"],
        "data_status": row["data_status"] or "READY",
        "audit": {
            "created_by": row["created_by"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        },
    }


async def search(request: Request) -> Response:
    body = json.loads(await request.body())
    [(field, [reference])] = body.items()
    statement = CONFIG[field]
    arguments = [reference if value == SAMPLE else value for value in statement["parameters"]]
    async with request.app.state.pool.acquire() as connection:
        rows = await connection.fetch(statement["text"], *arguments)
    meters: dict[Any, tuple[asyncpg.Record, list[str]]] = {}
    for row in rows:
        found = meters.setdefault(row["id"], (row, []))
        if row["reference"] is not None:
            found[1].append(row["reference"])
    page = {"meters": [meter(*found) for found in meters.values()], "next_page_token": None}
    return Response(to_json(page), media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[Route("/v2/meters/search", search, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
