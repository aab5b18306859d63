"""The bundle as one page a parent can open and read: headings, tables, nothing else.

Self-contained and inert: the style is inline, there is no script, no image, no font and no link
to anything outside the page, and a Content-Security-Policy forbids loading anything should a
value ever slip through. Every value is HTML-escaped (a portfolio title `<script>` reads as the
text `<script>`).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from app.rights.bundle.collect import Bundle, Table

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #d5dae2; }
p.note { color: #4b5563; margin-top: .2rem; }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; font-size: .9rem; }
th, td { border: 1px solid #d5dae2; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f1f4f8; }
table.record th { width: 16rem; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dt { font-weight: 600; }
nav ul { columns: 2; }
"""

# What the codes of the record of disclosures mean, for a reader who is not a lawyer.
_BASES = (
    ("self", "the student, reading their own record"),
    ("guardian_of", "a parent or guardian of the student"),
    ("teacher_of", "a teacher of one of the student's classes"),
    ("school_official", "an official of the student's school or district (an administrator)"),
    ("legitimate_interest", "a school official under a recorded, time-limited grant"),
    ("classmate", "a classmate (first name only)"),
)
_FIELD_CLASSES = (
    ("directory", "name, grade level, school"),
    ("contact", "email, phone, student number, guardians"),
    ("demographic", "date of birth, gender, ethnicity"),
    ("academic", "marks, readiness results, classes"),
    ("portfolio", "portfolio items"),
    ("disclosures", "this record of disclosures"),
)


def label(key: str) -> str:
    """`dateOfBirth` → `Date of birth`."""
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", key).lower()
    return words[:1].upper() + words[1:]


# A time as the JSON has it (ISO 8601, UTC), shown to the minute.
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}):\d{2}(?:\.\d+)?\+00:00")


def _value(value: Any) -> str:
    if type(value) is str:
        if value[10:11] == "T" and _TIME.fullmatch(value):
            return _TIME.sub(r"\1 \2 UTC", value)  # digits, dashes and colons only
        return escape(value)
    if value is None:
        return ""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))


def _single(table: Table) -> str:
    if not table.rows:
        return '<p class="note">None recorded.</p>'
    row = table.rows[0]
    cells = "".join(
        f'<tr><th scope="row">{escape(label(c))}</th><td>{_value(row[c])}</td></tr>'
        for c in table.columns
    )
    return f'<table class="record">{cells}</table>'


def _list(table: Table) -> str:
    if not table.rows:
        return '<p class="note">None recorded.</p>'
    head = "".join(f'<th scope="col">{escape(label(c))}</th>' for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_value(row[c])}</td>" for c in table.columns) + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(table: Table) -> str:
    count = "" if table.single else f" ({len(table.rows):,})"
    return (
        f'<section id="{escape(table.name)}"><h2>{escape(table.title)}{count}</h2>'
        f'<p class="note">{escape(table.description)}</p>'
        f"{_single(table) if table.single else _list(table)}</section>"
    )


def _glossary() -> str:
    bases = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _BASES)
    classes = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _FIELD_CLASSES)
    return (
        '<section id="reading"><h2>Reading the record of disclosures</h2>'
        "<p>Each disclosure says on what <em>basis</em> someone saw the record:</p>"
        f"<dl>{bases}</dl><p>and which <em>field classes</em> they saw:</p><dl>{classes}</dl>"
        "</section>"
    )


def to_html(bundle: Bundle) -> bytes:
    name = escape(bundle.student_name)
    generated = _value(bundle.about["generatedAt"])
    contents = "".join(
        f'<li><a href="#{escape(t.name)}">{escape(t.title)}</a></li>' for t in bundle.tables
    )
    sections = "".join(_section(t) for t in bundle.tables)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Student record of {name}</title><style>{_STYLE}</style></head>
<body><h1>Student record of {name}</h1>
<p class="note">Everything SchoolGraph holds about this student, as of {generated}.
The same record is in <code>record.json</code> (for programs) and in the <code>csv</code>
folder (one spreadsheet per section).</p>
<nav><ul>{contents}<li><a href="#reading">Reading the record of disclosures</a></li></ul></nav>
{sections}{_glossary()}
</body></html>
"""
    return page.encode()
