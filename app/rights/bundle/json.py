"""The bundle as one JSON document: complete and machine-readable.

```json
{"about": {"format": "schoolgraph-student-record", "version": 1, "generatedAt": "..."},
 "student": {"firstName": "Ana", "dateOfBirth": "2010-04-02", ...},
 "marks": [{"classTitle": "Algebra I", "score": 91, ...}], ...}
```

One key per table (`Bundle.tables`, in their order): an object for the student, the school and
the portfolio (null when there is none), a list for the others. As in the API
(`portfolio { headline items }`), the portfolio's items are inside it: `portfolio.items`.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.rights.bundle.collect import Bundle


def document(bundle: Bundle) -> dict[str, Any]:
    record: dict[str, Any] = {"about": bundle.about}
    for table in bundle.tables:
        if table.name == ITEMS:
            if record["portfolio"] is not None or table.rows:
                record["portfolio"] = {**(record["portfolio"] or {}), "items": table.rows}
        elif table.single:
            record[table.key] = dict(table.rows[0]) if table.rows else None
        else:
            record[table.key] = table.rows
    return record


# Nested in the portfolio, as the API has them.
ITEMS = "portfolio_items"


def to_json(bundle: Bundle) -> bytes:
    """UTF-8 JSON, indented for a reader; the same bundle gives the same bytes."""
    return bytes(orjson.dumps(document(bundle), option=orjson.OPT_INDENT_2))
