"""The root fields that compile, each with the function that answers it (`base.Root`)."""

from __future__ import annotations

from schema.compiled.base import Root
from schema.compiled.classes import class_by_global_id, classes
from schema.compiled.node import node
from schema.compiled.students import student_by_global_id, students

ROOTS: dict[str, Root] = {
    "students": students,
    "student": student_by_global_id,
    "node": node,
    "classes": classes,
    "class": class_by_global_id,
}
