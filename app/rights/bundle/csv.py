"""The bundle as CSV: one file per table, a header row of the JSON keys, then one row per record.

Lists (a class's teachers, a disclosure's field classes) are joined with `; `; true and false are
written `true` and `false`; empty cells are null. A text cell that a spreadsheet would run as a
formula (it starts with `=`, `@`, or `+`/`-` followed by something other than a digit) is
prefixed with an apostrophe, so opening the file never runs anything.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from app.rights.bundle.collect import Table

_FORMULA_STARTS = ("=", "@", "\t", "\r")


def cell(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return "'" + value if value[:1] in _RISKY and _formula(value) else value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is list:
        return "; ".join(cell(v) for v in value)
    return str(value)


_RISKY = frozenset("=@\t\r+-")


def _formula(text: str) -> bool:
    if text.startswith(_FORMULA_STARTS):
        return True
    return len(text) > 1 and text[0] in "+-" and not text[1].isdigit()


def to_csv(table: Table) -> bytes:
    """The table as UTF-8 CSV with CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([cell(row[c]) for c in table.columns])
    return out.getvalue().encode()
