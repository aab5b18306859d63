"""`Student.readiness` in a compiled answer: the student's readiness indicators, the rows and
order of `Loaders.readiness` (by category, then indicator), as one JSON sub-select over the
student row `s` (registered in `student.NESTED`).

The field itself is decided like every Student field (`student.render`: `Context.allows`, or
withheld with `redact_at`), as `Student.readiness` decides it with `_show`; an indicator's own
fields are columns no policy decides.
"""

from __future__ import annotations

from typing import Any

from app.encryption import Keyring
from schema.compiled import objects
from schema.compiled.shape import Selected
from schema.context import Context, StudentRef

SQL = objects.listselect("ReadinessIndicator", "o.student_id = s.id", "o.category, o.indicator")


def render(
    context: Context,
    selected: Selected,
    value: list[list[Any]],
    ref: StudentRef,
    ring: Keyring | None,
    path: list[str | int],
) -> list[dict[str, Any] | None]:
    return [objects.render("ReadinessIndicator", selected, row) for row in value]
