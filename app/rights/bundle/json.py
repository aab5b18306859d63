"""The bundle as one JSON document: complete and machine-readable.

```json
{"about": {"format": "schoolgraph-student-record", "version": 1, "generatedAt": "..."},
 "student": {"firstName": "Ana", "dateOfBirth": "2010-04-02", ...},
 "marks": [{"classTitle": "Algebra I", "score": 91, ...}], ...}
```

One key per table (`Bundle.tables`, in their order): an object for the student, the school and
the portfolio (null when there is none), a list for the others.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.rights.bundle.collect import Bundle


def document(bundle: Bundle) -> dict[str, Any]:
    record: dict[str, Any] = {"about": bundle.about}
    for table in bundle.tables:
        if table.single:
            record[table.key] = table.rows[0] if table.rows else None
        else:
            record[table.key] = table.rows
    return record


def to_json(bundle: Bundle) -> bytes:
    """UTF-8 JSON, indented for a reader; the same bundle gives the same bytes."""
    return bytes(orjson.dumps(document(bundle), option=orjson.OPT_INDENT_2))
