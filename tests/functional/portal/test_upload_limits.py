"""Bulk links take the portal's documented sizes: a CSV up to 2 MiB, a request up to 6 MiB."""

from __future__ import annotations

import csv
import io

from tests.functional.portal.conftest import Portal
from tests.support.factories import Partner

MIB = 1024 * 1024


def references(count: int, length: int) -> list[str]:
    return [f"{n:06d}-" + "r" * (length - 7) for n in range(count)]


async def upload(signed_in: Portal, ref_ids: list[str]) -> tuple[int, str, dict[str, object]]:
    """Upload a CSV of Reference IDs; the result page's status and text, and its download form."""
    content = ("\n".join(ref_ids) + "\n").encode()
    page = await signed_in.post(
        "/portal/connect/links/bulk",
        {"flow": "ca-homes"},
        files={"file": ("refs.csv", content, "text/csv")},
    )
    forms = page.document.xpath("//form[@action='/portal/connect/links/bulk/download']")
    download: dict[str, object] = {}
    if forms:
        download = {name: value for name, value in forms[0].form_values() if name != "utility_id"}
    return page.status, page.text, download


async def test_a_csv_of_1_2_mib_makes_its_links(signed_in: Portal, partner: Partner) -> None:
    ref_ids = references(9000, 139)
    assert 1.2 * MIB <= sum(len(ref_id) + 1 for ref_id in ref_ids) < 2 * MIB

    status, text, _ = await upload(signed_in, ref_ids)

    assert status == 200
    assert "9,000 links ready" in text


async def test_the_links_of_a_csv_just_under_1_mib_can_be_downloaded(
    signed_in: Portal, partner: Partner
) -> None:
    ref_ids = references(10_000, 100)
    assert 0.95 * MIB <= sum(len(ref_id) + 1 for ref_id in ref_ids) < MIB
    status, _, download = await upload(signed_in, ref_ids)
    assert status == 200

    response = await signed_in.client.post("/portal/connect/links/bulk/download", data=download)

    assert response.status_code == 200, response.text[:500]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert len(rows) == 1 + 10_000
    assert rows[1][0] == ref_ids[0]


async def test_a_csv_over_2_mib_is_refused_on_the_bulk_page(
    signed_in: Portal, partner: Partner
) -> None:
    status, text, _ = await upload(signed_in, references(9000, 250))

    assert status == 400
    assert "The file is larger than 2 MB. Please split it into smaller files." in text


async def test_an_upload_over_6_mib_gets_the_friendly_error_page(
    signed_in: Portal, partner: Partner
) -> None:
    response = await signed_in.client.post(
        "/portal/connect/links/bulk",
        data={"flow": "ca-homes"},
        files={"file": ("refs.csv", b"r" * (6 * MIB + 1), "text/csv")},
    )

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "Request too large" in response.text
    assert "larger than 6 MiB, the most this page accepts" in response.text
    assert f"Reference for support: {response.headers['x-request-id']}" in response.text
