"""CSV cells a spreadsheet shows as text: never run as a formula, whatever a partner's data holds.

Excel and LibreOffice read a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
as a formula. Following OWASP's advice on CSV injection, such a cell is written with a leading
apostrophe, which spreadsheets hide and which tells them the cell is text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_line(cells: Iterable[str | None]) -> str:
    """One CSV record (RFC 4180: quoted where needed, CRLF), every cell formula-safe."""
    out = io.StringIO()
    csv.writer(out).writerow([formula_safe(cell or "") for cell in cells])
    return out.getvalue()
