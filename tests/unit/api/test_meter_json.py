"""A search page's JSON, built from plain rows, is byte for byte what the `MeterSearchPage` model
gives (what FastAPI would answer from it), whatever the meters hold."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from leap_connect.meters.schemas import MeterSearchPage, meter_document
from leap_connect.meters.search import FoundPage
from leap_connect.utilities.registry import UTILITY_IDS

moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(8999, 1, 1), timezones=st.just(UTC)
)
texts = st.none() | st.text(max_size=40)

meters = st.builds(
    SimpleNamespace,
    id=st.uuids(),
    utility_id=st.sampled_from(UTILITY_IDS),
    partner_reference=texts,
    transmission_region=st.sampled_from(["CAISO", "NYISO"]),
    customer_classification=st.sampled_from(["RESIDENTIAL", "COMMERCIAL", "other"]),
    utility_is_required=st.booleans(),
    electric_service_account_number=texts,
    customer_account_number=texts,
    service_class=texts,
    utility_meter_serial_number=texts,
    service_point_id=texts,
    tariff=texts,
    end_customer_name=texts,
    end_customer_email=texts,
    end_customer_company_name=texts,
    street_1=texts,
    street_2=texts,
    city=texts,
    state_or_province_code=texts,
    postal_code=texts,
    country_code=texts,
    is_archived=st.booleans(),
    data_status=st.sampled_from(["COLLECTING", "READY", "FAILED"]),
    created_by=st.sampled_from(["UTILITY", "PARTNER"]),
    created_at=moments,
    updated_at=moments,
)
authorizations = st.builds(
    SimpleNamespace,
    id=st.uuids(),
    status=st.sampled_from(["INITIATED", "COMPLETED", "FAILED", "REVOKED", "EXPIRED"]),
    revoked_at=st.none() | moments,
    authorized_at=st.none() | moments,
    expires_at=st.none() | moments,
    scope_granted=texts,
)
found = st.tuples(meters, st.lists(st.text(max_size=20), max_size=3), authorizations)


@given(st.lists(found, max_size=4), st.none() | st.text(max_size=60))
def test_page_json_is_the_models_json(
    rows: list[tuple[Any, list[str], Any]], token: str | None
) -> None:
    documents = [
        meter_document(meter, connection_references=references, authorization=authorization)
        for meter, references, authorization in rows
    ]
    page = FoundPage(documents, token)
    model = TypeAdapter(MeterSearchPage)
    assert page.json() == model.dump_json(model.validate_python(page.model()))
