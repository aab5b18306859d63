"""The districts in memory (schools, terms, students, families, sections) and the rows they
become: the tables in load order with the columns the COPY fills."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from app.seed.calendar import TermDates


class SeedError(RuntimeError):
    """The database cannot be seeded (it already holds data, or is not migrated)."""


@dataclass(frozen=True)
class DistrictSpec:
    id: int
    name: str
    domain: str
    students: int
    ethnicity_weights: tuple[float, ...]  # in ETHNICITIES order
    area_codes: tuple[str, ...]
    demo: bool


@dataclass(eq=False, slots=True)
class School:
    id: int
    district_id: int
    name: str
    code: str
    level: str
    grade_sizes: dict[int, int]
    students: list[Student] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(self.grade_sizes.values())


@dataclass(eq=False, slots=True)
class Term:
    id: int
    district_id: int
    dates: TermDates


@dataclass(eq=False, slots=True)
class Student:
    id: int
    district_id: int
    school: School
    grade: int
    born: date
    gender: str
    user_id: int
    ability: float  # one latent value per student keeps their marks consistent across classes
    number: str = ""
    first: str = ""
    last: str = ""
    ethnicity: str = ""
    email: str = ""
    household: Household | None = None


@dataclass(eq=False, slots=True)
class Guardian:
    user_id: int
    relationship: str  # parent, guardian, relative
    legal: bool
    data_access: bool


@dataclass(eq=False, slots=True)
class Household:
    children: list[Student]
    guardians: list[Guardian] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class Section:
    id: int
    district_id: int
    school: School
    term: Term
    title: str
    code: str
    subject: str
    department: tuple[str, ...]  # sections of one department go to the same few teachers
    grade_levels: list[int]
    visibility: str
    students: list[Student]
    elective: bool
    teacher_id: int = 0


@dataclass(eq=False, slots=True)
class District:
    spec: DistrictSpec
    schools: list[School] = field(default_factory=list)
    terms: dict[str, Term] = field(default_factory=dict)  # "current", "previous" and by name
    students: list[Student] = field(default_factory=list)
    households: list[Household] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    admin_id: int = 0


Row = tuple[Any, ...]


class Chunk(NamedTuple):
    table: str
    rows: list[Row]
    last: bool  # the table is complete with these rows


CHUNK_ROWS = 100_000  # the large tables are handed to the loader in chunks of about this size

# Tables in load order (parents before children) with the columns the COPY fills.
TABLES: dict[str, tuple[str, ...]] = {
    "district": ("id", "name", "min_cell_size"),
    "school": ("id", "district_id", "name", "code", "level"),
    "term": ("id", "district_id", "name", "starts_on", "ends_on"),
    "app_user": (
        "id", "district_id", "username", "email", "first_name", "last_name", "phone",
        "password_hash", "created_at",
    ),
    "role_assignment": ("id", "district_id", "user_id", "role", "school_id", "granted_by",
                        "created_at"),
    "student": (
        "id", "district_id", "school_id", "user_id", "student_number", "first_name", "last_name",
        "preferred_name", "grade_level", "date_of_birth", "gender", "ethnicity", "email", "phone",
        "enrollment_status", "directory_opt_out", "coppa_consent",
    ),
    "guardian_link": (
        "id", "district_id", "guardian_user_id", "student_id", "relationship", "legal_guardian",
        "data_access", "starts_on", "ends_on",
    ),
    "consent": ("id", "district_id", "student_id", "kind", "granted", "given_by", "recorded_at"),
    "class_section": (
        "id", "district_id", "school_id", "term_id", "title", "code", "subject", "grade_levels",
        "visibility",
    ),
    "teaching_assignment": ("id", "district_id", "class_id", "staff_user_id", "starts_on",
                            "ends_on"),
    "enrollment": ("id", "district_id", "class_id", "student_id", "begins_on", "ends_on"),
    "mark": (
        "id", "district_id", "student_id", "class_id", "term_id", "score", "letter", "comment",
        "recorded_by", "recorded_at",
    ),
    "portfolio": ("id", "district_id", "student_id", "headline", "created_at"),
    "portfolio_item": (
        "id", "district_id", "portfolio_id", "student_id", "kind", "title", "body", "visibility",
        "created_at", "updated_at",
    ),
    "readiness_indicator": (
        "id", "district_id", "student_id", "indicator", "category", "met", "value", "achieved_on",
        "source",
    ),
    "activity_event": ("id", "district_id", "user_id", "student_id", "school_id", "kind",
                       "occurred_at"),
}  # fmt: skip
