"""The demo accounts (SPEC §12) and the names of the places their story needs."""

from __future__ import annotations

from dataclasses import dataclass

from app.models import Role

# Published in the README and by `schoolgraph demo-accounts`; demo mode only (SPEC §12).
DEMO_PASSWORD = "demo-password-1"  # noqa: S105

# The smallest district that still fits the demo accounts' story (a teacher with ~115 students
# at school A, a second high school, a second district of 50 students).
MIN_STUDENTS = 300


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    description: str


DISTRICT_NAME = "Riverside Unified School District"
SECOND_DISTRICT_NAME = "Cedar Valley Independent School District"
SCHOOL_A_NAME = "Riverside High School"
SCHOOL_B_NAME = "Lakeview High School"

DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("admin", Role.DISTRICT_ADMIN.value, f"District administrator, {DISTRICT_NAME}"),
    DemoAccount("principal", Role.SCHOOL_ADMIN.value, f"Principal of {SCHOOL_A_NAME}"),
    DemoAccount("coordinator", Role.COORDINATOR.value, f"Counselor/coordinator at {SCHOOL_A_NAME}"),
    DemoAccount("designee", Role.DESIGNEE.value, f"Designee at {SCHOOL_A_NAME}, no grant yet"),
    DemoAccount(
        "teacher", Role.TEACHER.value, f"Math teacher at {SCHOOL_A_NAME}: five current classes"
    ),
    DemoAccount(
        "guardian",
        Role.GUARDIAN.value,
        f"Parent of `student` and of a teenager at {SCHOOL_B_NAME}",
    ),
    DemoAccount(
        "student", Role.STUDENT.value, f"Student (14-16) at {SCHOOL_A_NAME}, in a `teacher` class"
    ),
    DemoAccount("reporter", Role.REPORTING.value, "Reporting service account (aggregates only)"),
    DemoAccount("support", Role.SUPPORT.value, "Vendor support: nothing without a grant"),
)

# School A must be big enough for the demo teacher's ~115 students plus other sections.
DEMO_SCHOOL_MIN = 150
DEMO_SUBJECT = "Mathematics"
