"""`Student.marks` in a compiled answer: one JSON sub-select over the student row `s` with the
rows and order of `Loaders.marks` (by term, then class) — or, where the viewer may read only their
own classes' marks, of `Loaders.taught_marks` — and each mark's term (`objects`).

The release is the renderer's to decide (`Nested.decided` is False), as `Student.marks` decides
it: `Context.academic_release` says everything, the viewer's taught classes only, or nothing
(withheld with `redact_at`, as `_own_classes_only` withholds it). The statement reads only the
marks of the viewer's taught classes unless some pair the viewer could hold releases every mark
(`params`); which of those a student's row shows is decided per row, here.

Values are formatted as the resolvers' scalars serialize them: the score as `str` of the
`Decimal` asyncpg returns (its text, scale kept: "92.50"), `recordedAt` as the `isoformat` of the
UTC datetime (microseconds when there are some, "+00:00"), the comment decrypted with the keyring.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from app.encryption import Keyring
from app.relations import Viewer
from schema.compiled import objects
from schema.compiled.base import WITHHELD, Fallback, blob
from schema.compiled.shape import Selected
from schema.context import Context, StudentRef
from schema.relay import to_global_id

# Each mark as [id, class_id, score, letter, comment, recorded_at (UTC), term]; an infinite
# `recorded_at` is its text ('infinity'), which falls back.
SQL = (
    "(SELECT coalesce(json_agg(json_build_array(m.id, m.class_id, m.score::text, m.letter,"  # noqa: S608
    " m.comment, coalesce(to_char(m.recorded_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), m.recorded_at::text), "
    + objects.subselect("Term", "m.term_id")
    + ") ORDER BY m.term_id, m.class_id), '[]'::json)"
    " FROM mark m WHERE m.student_id = s.id"
    " AND (:marks_all OR m.class_id = ANY(:marks_classes)))"
)


def params(context: Context, viewer: Viewer) -> dict[str, Any]:
    """The statement's bounds: every mark when some pair the viewer could hold releases every
    mark (a student's row then decides), else only those of the classes they teach."""
    return {
        "marks_all": bool(viewer.possible_mask & context.decide("Student.marks")),
        "marks_classes": sorted(viewer.taught_classes),
    }


def render(
    context: Context,
    selected: Selected,
    value: list[list[Any]],
    ref: StudentRef,
    ring: Keyring | None,
    path: list[str | int],
) -> list[dict[str, Any]] | None:
    own_only = context.academic_release(ref, "marks")
    if own_only is None:
        context.redact_at(path, "Student.marks", WITHHELD)
        return None
    viewer = context._viewer
    taught = viewer.taught_classes if viewer else frozenset()
    return [_mark(selected, row, ring) for row in value if not own_only or row[1] in taught]


def _mark(selected: Selected, row: list[Any], ring: Keyring | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in selected.children.items():
        name = field.name
        if name == "__typename":
            out[key] = "Mark"
        elif name == "id":
            out[key] = to_global_id("Mark", row[0])
        elif name == "score":
            out[key] = None if row[2] is None else str(Decimal(row[2]))
        elif name == "letter":
            out[key] = row[3]
        elif name == "comment":
            if ring is None:
                raise Fallback("keyring")
            out[key] = ring.decrypt("mark", "comment", row[0], blob(row[4]))
        elif name == "recordedAt":
            out[key] = _utc(row[5])
        elif name == "term":
            out[key] = objects.render("Term", field, row[6])
        else:
            raise Fallback(f"Mark.{name}")
    return out


def _utc(value: str | None) -> str | None:
    """A `timestamptz` as asyncpg returns it (UTC) and the DateTime scalar writes it."""
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError as error:  # infinite, or a year past 9999: the resolvers answer
        raise Fallback("recordedAt") from error
    return moment.replace(tzinfo=datetime.UTC).isoformat()
