"""`Query.node` for what hangs off a student record and for the district's audit.

Each object is fetched through the path a client would take to it and decided the same way: its
student through the viewer's scoped loader, then the student's field that lists it (a mark by
`Student.marks`, an item by its portfolio's visibilities, ...), then the object among that
field's rows. Where the path would withhold it, `node` answers null with no error, as for an id
that does not exist: an error would tell the two apart. A read it allows is recorded like the
same read through the field.
"""

from __future__ import annotations

from schema.nodes.audit import audit_event
from schema.nodes.student_parts import KINDS, student_part

__all__ = ["KINDS", "audit_event", "student_part"]
