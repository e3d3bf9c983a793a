"""The Connect tab's pure parts: QR codes, reading an uploaded CSV, the bulk download's list."""

from __future__ import annotations

import lxml.etree
import pytest

from leap_connect.connect.bulk_links import ReferenceRow
from leap_connect.kit.problems import ValidationFailed
from leap_connect.portal.service import (
    MAX_UPLOAD_ROWS,
    UploadUnreadable,
    decode_ref_ids,
    encode_ref_ids,
    qr_svg,
    read_uploaded_references,
)


def test_a_qr_code_is_an_accessible_inline_svg_without_styles() -> None:
    svg = lxml.etree.fromstring(
        str(qr_svg("https://connect.example.com/acme/ca?refId=" + "r" * 255))
    )

    assert svg.tag == "svg"
    assert svg.get("role") == "img"
    assert svg.findtext("title") == "QR code of the Connect link"
    assert svg.get("viewBox")
    assert "style" not in str(qr_svg("https://x.example/"))  # the CSP forbids inline styles


def test_an_upload_is_read_like_the_clis_csv_with_lines_and_a_byte_order_mark() -> None:
    rows = read_uploaded_references("\ufeffrefId,name\r\ncust-1,Ann\r\n\r\ncust-2,Bob\r\n".encode())

    assert rows == [
        ReferenceRow(2, ref_id="cust-1"),
        ReferenceRow(3, error="the Reference ID is empty"),
        ReferenceRow(4, ref_id="cust-2"),
    ]


def test_an_upload_with_too_many_rows_is_refused() -> None:
    content = "\n".join(f"c-{n}" for n in range(MAX_UPLOAD_ROWS + 1)).encode()

    with pytest.raises(UploadUnreadable, match="the limit is 10,000"):
        read_uploaded_references(content)


def test_the_bulk_download_list_round_trips_and_refuses_anything_else() -> None:
    ref_ids = ['a "quoted", comma', "cust 2", "~"]
    assert decode_ref_ids(encode_ref_ids(ref_ids)) == ref_ids

    for tampered in ("", "{}", "[]", "[1]", '[""]', "not json", '["tab\\there"]'):
        with pytest.raises(ValidationFailed):
            decode_ref_ids(tampered)
