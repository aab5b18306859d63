"""The root fields that compile, each with the function that answers it (`base.Root`)."""

from __future__ import annotations

from schema.compiled.base import Root
from schema.compiled.students import student_by_global_id, students

ROOTS: dict[str, Root] = {
    "students": students,
    "student": student_by_global_id,
    "node": student_by_global_id,
}
