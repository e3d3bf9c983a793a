"""CSV cells a spreadsheet shows as text: never run as a formula, whatever a partner's data holds.

Excel and LibreOffice read a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
as a formula. Following OWASP's advice on CSV injection, such a cell is written with a leading
apostrophe, which spreadsheets hide and which tells them the cell is text.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
