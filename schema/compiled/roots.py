"""The root fields that compile, each with the function that answers it (`base.Root`)."""

from __future__ import annotations

from schema.compiled.base import Root
from schema.compiled.classes import class_by_global_id, classes
from schema.compiled.node import node
from schema.compiled.students import student_by_global_id, students
from schema.compiled.viewer import viewer

ROOTS: dict[str, Root] = {
    "students": students,
    "student": student_by_global_id,
    "node": node,
    "viewer": viewer,
    "classes": classes,
    "class": class_by_global_id,
}

# The roots an anonymous request may compile: they answer it as the resolvers do (`viewer` is
# null); any other root refuses it on the resolver path, which reports that.
ANONYMOUS = frozenset({"__typename", "viewer"})

# When each root reads, on the resolver path, relative to the others: `students` at once, in its
# resolver; the viewer's district in its field's resolver, a step later; the students of
# `student`, `node` and the viewer's `student`/`children` through `Loaders.student`, whose batch
# runs a step later still. The compiled roots run in this order (document order within a step),
# so that when a statement fails, the same ones have run, and failed, as on the resolver path.
STEP = {"students": 0, "classes": 0, "class": 0, "viewer": 1, "student": 2, "node": 2}
