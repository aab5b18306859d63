"""The bundle as one `.zip`: what a requester downloads.

    README.txt          what is in the archive
    record.json         the whole record, machine-readable (app/rights/bundle/json.py)
    index.html          the record as one page to read (app/rights/bundle/html.py)
    csv/<table>.csv     one spreadsheet per table (app/rights/bundle/csv.py)

The same bundle gives the same bytes: the entries come in a fixed order and carry the bundle's
time, not the clock's.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC

from app.rights.bundle.collect import Bundle
from app.rights.bundle.csv import to_csv
from app.rights.bundle.html import to_html
from app.rights.bundle.json import to_json

_README = """Student record of {name}
Generated {generated} (UTC) by SchoolGraph, in answer to data request {request}.

index.html        Open this in a web browser: the whole record on one page.
record.json       The same record for programs (JSON, UTF-8). Dates and times are ISO 8601,
                  times in UTC.
csv/              The same record as spreadsheets, one file per section (UTF-8, comma-separated).
                  A text cell that a spreadsheet would run as a formula starts with an apostrophe.

Sections: {sections}

The record of disclosures lists everyone who saw the student's record, which parts of it
(field classes), when, on what basis and for what purpose. Questions about this record, or a
request to correct it, go to the school district's privacy officer.
"""


def readme(bundle: Bundle) -> bytes:
    return _README.format(
        name=bundle.student_name,
        generated=bundle.about["generatedAt"],
        request=bundle.data_request_id if bundle.data_request_id is not None else "-",
        sections=", ".join(t.name for t in bundle.tables),
    ).encode()


def files(bundle: Bundle) -> list[tuple[str, bytes]]:
    """The archive's entries, in order."""
    return [
        ("README.txt", readme(bundle)),
        ("record.json", to_json(bundle)),
        ("index.html", to_html(bundle)),
        *((f"csv/{t.name}.csv", to_csv(t)) for t in bundle.tables),
    ]


def build_zip(bundle: Bundle) -> bytes:
    moment = bundle.generated_at.astimezone(UTC)
    stamp = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files(bundle):
            entry = zipfile.ZipInfo(name, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, content)
    return out.getvalue()
