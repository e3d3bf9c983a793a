"""Bulk Connect links: read Reference IDs from a CSV, keep the bad rows with their line numbers.

Shared by `leap-connect links create --csv` and the portal's bulk upload, so both accept the same
files and say the same things about the same rows.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from leap_connect.kit.link_rules import LinkError, parse_ref_id
from leap_connect.kit.spreadsheet_cells import formula_safe

# A first row whose first cell is one of these is a header, not a Reference ID.
REFERENCE_HEADERS = ("refid", "ref_id", "reference_id")
LINKS_CSV_HEADER = ("ref_id", "url")
EMPTY_REFERENCE = "the Reference ID is empty"


class CsvUnreadable(ValueError):
    """The file is not CSV we can read; the message names the line, e.g. "line 2: ..."."""


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    """One CSV record: the line it starts on, and its Reference ID or what is wrong with it."""

    line: int
    ref_id: str | None = None
    error: str | None = None


def read_reference_rows(lines: Iterable[str]) -> list[ReferenceRow]:
    """Every record of a CSV, its first column checked as a Reference ID; a header row is skipped.

    `lines` is an open text file (opened with `newline=""`) or any iterable of its lines. Decoding
    errors of the file propagate as they are; CSV syntax errors become `CsvUnreadable`.
    """
    rows: list[ReferenceRow] = []
    for line, record in _records(lines):
        value = record[0] if record else ""
        if line == 1 and value.strip().lower() in REFERENCE_HEADERS:
            continue
        try:
            ref_id = parse_ref_id(value)
            if ref_id is None:
                raise LinkError("refId", EMPTY_REFERENCE)
        except LinkError as error:
            rows.append(ReferenceRow(line, error=error.message))
            continue
        rows.append(ReferenceRow(line, ref_id=ref_id))
    return rows


def write_links_csv(out: TextIO, ref_ids: Iterable[str], link_for: Callable[[str], str]) -> int:
    """Write the header and one `ref_id,url` row per Reference ID; returns how many rows.

    A Reference ID a spreadsheet would run as a formula is written as text (an apostrophe first);
    the link always carries the exact Reference ID.
    """
    writer = csv.writer(out)
    writer.writerow(LINKS_CSV_HEADER)
    written = 0
    for ref_id in ref_ids:
        writer.writerow([formula_safe(ref_id), link_for(ref_id)])
        written += 1
    return written


def _records(lines: Iterable[str]) -> list[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on: a quoted field may span several lines."""
    records: list[tuple[int, list[str]]] = []
    line_number = 1
    reader = csv.reader(lines)
    try:
        for record in reader:
            records.append((line_number, record))
            line_number = reader.line_num + 1
    except csv.Error as error:
        raise CsvUnreadable(f"line {line_number}: {error}") from None
    return records
