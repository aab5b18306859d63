"""The records mutations of district administration, one class per entity, merged."""

from __future__ import annotations

from strawberry.tools import merge_types

from schema.admin.classes import ClassRecordsMutation
from schema.admin.enrollments import EnrollmentRecordsMutation
from schema.admin.guardians import GuardianRecordsMutation
from schema.admin.students import StudentRecordsMutation

RecordsMutation = merge_types(
    "RecordsMutation",
    (
        StudentRecordsMutation,
        ClassRecordsMutation,
        EnrollmentRecordsMutation,
        GuardianRecordsMutation,
    ),
)
