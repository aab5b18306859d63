"""An oracle of read access written straight from SPEC §4-§5, apart from the code it checks.

The relations of §4 are computed here in SQL from the tables themselves, and the table of §5 is
written out below as data. Nothing is imported from `app.relations`, `app.policy` or
`policies/*.csv`: a test that asked the code under test what it allows would only agree with it.

    oracle = await Oracle.load(db, user_id)
    access = oracle.access(student_pk)   # what that account may read of that student
    assert "email" in access.fields

Interpretations where the SPEC is silent (kept as strict as a privacy officer would read it):
`studentNumber` and `guardians` are contact information (§4 lists neither under directory);
`classes` and `enrollments` are the "enrollment history" of the academic class; a teacher's
"marks of own classes only" releases the academic rows tied to a class the teacher teaches today
(marks and enrollments of those classes) and nothing that is not tied to a class (readiness).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.encryption import ENCRYPTED, KEYS_SQL, Keyring, MasterKey, data_keys

# --- SPEC §4: the field class of every Student field --------------------------------------------
FIELD_CLASS: dict[str, str] = {
    "firstName": "directory",
    "lastName": "directory",
    "preferredName": "directory",
    "displayName": "directory",
    "gradeLevel": "directory",
    "school": "directory",
    "email": "contact",
    "phone": "contact",
    "studentNumber": "contact",
    "guardians": "contact",
    "dateOfBirth": "demographic",
    "gender": "demographic",
    "ethnicity": "demographic",
    "marks": "academic",
    "readiness": "academic",
    "classes": "academic",
    "enrollments": "academic",
    "portfolio": "portfolio",
    "disclosures": "disclosures",
    "consents": "disclosures",
}

# --- SPEC §5 as data ------------------------------------------------------------------------------
# A cell is YES, NO, OWN_CLASSES (academic rows of classes the viewer teaches), a set of field
# names (classmates) or, in the portfolio column, the item visibilities released.
YES, NO, OWN_CLASSES = "yes", "no", "own classes"
ALL_ITEMS = frozenset({"PRIVATE", "TEACHERS", "COORDINATOR"})

POLICY: dict[str, dict[str, Any]] = {
    "self": {
        "directory": YES,
        "contact": YES,
        "demographic": YES,
        "academic": YES,
        "portfolio": ALL_ITEMS,
        "disclosures": YES,
    },
    "guardian_of": {
        "directory": YES,
        "contact": YES,
        "demographic": YES,
        "academic": YES,
        "portfolio": ALL_ITEMS,
        "disclosures": YES,
    },
    "teacher_of": {
        "directory": YES,
        "contact": YES,
        "demographic": NO,
        "academic": OWN_CLASSES,
        "portfolio": frozenset({"TEACHERS", "COORDINATOR"}),
        "disclosures": NO,
    },
    # "unless opted out": a classmate who opted out releases nothing (see `Oracle.access`).
    "classmate": {
        "directory": frozenset({"firstName", "displayName"}),
        "contact": NO,
        "demographic": NO,
        "academic": NO,
        "portfolio": frozenset(),
        "disclosures": NO,
    },
    # A coordinator or designee at the student's school (or district) without a grant.
    "school_official": {
        "directory": YES,
        "contact": NO,
        "demographic": NO,
        "academic": NO,
        "portfolio": frozenset(),
        "disclosures": NO,
    },
    "legitimate_interest": {
        "directory": YES,
        "contact": YES,
        "demographic": YES,
        "academic": YES,
        "portfolio": frozenset({"COORDINATOR"}),
        "disclosures": NO,
    },
    # school_admin / district_admin of the student's school or district.
    "admin": {
        "directory": YES,
        "contact": YES,
        "demographic": YES,
        "academic": YES,
        "portfolio": frozenset(),
        "disclosures": YES,
    },
    # Any other staff, reporting and support hold no relation at all: no row, nothing.
}

# --- SPEC §4: relations, from the tables ----------------------------------------------------------
_ACTIVE = "{a}.{start} <= CURRENT_DATE AND ({a}.{end} IS NULL OR {a}.{end} >= CURRENT_DATE)"
_ENROLLED = _ACTIVE.format(a="{a}", start="begins_on", end="ends_on")
_TEACHING = _ACTIVE.format(a="ta", start="starts_on", end="ends_on")
_LINK = _ACTIVE.format(a="gl", start="starts_on", end="ends_on")

RELATIONS_SQL = f"""
WITH viewer AS (SELECT id, district_id FROM app_user WHERE id = $1),
related AS (
  -- self: the student record of the account
  SELECT s.id AS student_id, 'self' AS relation
  FROM student s JOIN viewer v ON s.user_id = v.id
  UNION ALL
  -- guardian_of: an active link with data access; it ends at 18 unless the student consents
  SELECT s.id, 'guardian_of'
  FROM guardian_link gl JOIN viewer v ON gl.guardian_user_id = v.id
  JOIN student s ON s.id = gl.student_id
  WHERE gl.data_access AND {_LINK}
    AND (s.date_of_birth + interval '18 years' > CURRENT_DATE
         OR coalesce((SELECT c.granted FROM consent c
                      WHERE c.student_id = s.id AND c.kind = 'guardian_access'
                      ORDER BY c.recorded_at DESC, c.id DESC LIMIT 1), false))
  UNION ALL
  -- teacher_of: teaches (today) a class the student is enrolled in today
  SELECT e.student_id, 'teacher_of'
  FROM teaching_assignment ta JOIN viewer v ON ta.staff_user_id = v.id
  JOIN enrollment e ON e.class_id = ta.class_id
  WHERE {_TEACHING} AND {_ENROLLED.format(a="e")}
  UNION ALL
  -- classmate: another student of a class both are enrolled in today
  SELECT theirs.student_id, 'classmate'
  FROM student me JOIN viewer v ON me.user_id = v.id
  JOIN enrollment mine ON mine.student_id = me.id
  JOIN enrollment theirs ON theirs.class_id = mine.class_id AND theirs.student_id <> me.id
  WHERE {_ENROLLED.format(a="mine")} AND {_ENROLLED.format(a="theirs")}
  UNION ALL
  -- school_official: coordinator, designee or admin at the student's school or district
  SELECT s.id, CASE WHEN ra.role IN ('coordinator', 'designee') THEN 'school_official'
                    ELSE 'admin' END
  FROM role_assignment ra JOIN viewer v ON ra.user_id = v.id
  JOIN student s ON s.school_id = ra.school_id
                 OR (ra.school_id IS NULL AND s.district_id = ra.district_id)
  WHERE ra.role IN ('coordinator', 'designee', 'school_admin', 'district_admin')
  UNION ALL
  -- legitimate_interest: an active grant to a coordinator or designee covers the student
  SELECT s.id, 'legitimate_interest'
  FROM legitimate_interest_grant g JOIN viewer v ON g.grantee_user_id = v.id
  JOIN student s ON (g.scope = 'student' AND s.id = g.student_id)
                 OR (g.scope = 'school' AND s.school_id = g.school_id)
                 OR (g.scope = 'class' AND EXISTS (
                       SELECT 1 FROM enrollment e
                       WHERE e.student_id = s.id AND e.class_id = g.class_id
                         AND {_ENROLLED.format(a="e")}))
  WHERE g.revoked_at IS NULL AND g.starts_at <= now() AND g.expires_at > now()
    AND EXISTS (SELECT 1 FROM role_assignment r
                WHERE r.user_id = v.id AND r.role IN ('coordinator', 'designee'))
)
-- nobody sees another district
SELECT DISTINCT r.student_id, r.relation
FROM related r JOIN student s ON s.id = r.student_id JOIN viewer v ON v.district_id = s.district_id
"""

OWN_CLASSES_SQL = f"""
SELECT ta.class_id FROM teaching_assignment ta WHERE ta.staff_user_id = $1 AND {_TEACHING}
"""


@dataclass(frozen=True)
class StudentAccess:
    """What one account may read of one student. `None` for a list field: denied outright."""

    relations: frozenset[str]
    fields: frozenset[str]
    marks: frozenset[int] | None
    classes: frozenset[int] | None  # classes enrolled in today
    enrollments: frozenset[int] | None  # classes of the enrollment history
    portfolio_items: frozenset[int] | None

    @property
    def visible(self) -> bool:
        """The row may be listed at all: some relation releases something of it."""
        return bool(self.fields) or any(
            v is not None for v in (self.marks, self.classes, self.portfolio_items)
        )


@dataclass
class Facts:
    """The rows of the whole database the checks compare a response with."""

    students: dict[int, dict[str, Any]]
    marks: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    enrollments: dict[int, list[tuple[int, bool]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    items: dict[int, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    readiness: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    guardians: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    portfolio: dict[int, int] = field(default_factory=dict)
    # Statements about contested fields (SPEC §7 `Student.statements`): id → (student, fields).
    statements: dict[int, tuple[int, frozenset[str]]] = field(default_factory=dict)

    @classmethod
    async def load(cls, db: asyncpg.Connection) -> Facts:
        # Encrypted at rest (docs/encryption.md): the stored values are compared in plain text.
        ring = Keyring.unwrap(MasterKey.from_settings(), data_keys(await db.fetch(KEYS_SQL)))
        students = {}
        for r in await db.fetch("SELECT * FROM student"):
            row = dict(r)
            for column in ENCRYPTED.get("student", ()):
                row[column] = ring.decrypt("student", column, r["id"], r[column])
            students[r["id"]] = row
        facts = cls(students=students)
        for r in await db.fetch("SELECT id, student_id, class_id FROM mark"):
            facts.marks[r["student_id"]].append((r["id"], r["class_id"]))
        for r in await db.fetch(
            f"SELECT student_id, class_id, {_ENROLLED.format(a='e')} AS active FROM enrollment e"
        ):
            facts.enrollments[r["student_id"]].append((r["class_id"], r["active"]))
        for r in await db.fetch("SELECT id, student_id, visibility FROM portfolio_item"):
            facts.items[r["student_id"]].append((r["id"], r["visibility"]))
        for r in await db.fetch("SELECT id, student_id FROM readiness_indicator"):
            facts.readiness[r["student_id"]].add(r["id"])
        for r in await db.fetch("SELECT guardian_user_id, student_id FROM guardian_link"):
            facts.guardians[r["student_id"]].add(r["guardian_user_id"])
        for r in await db.fetch("SELECT id, student_id FROM portfolio"):
            facts.portfolio[r["student_id"]] = r["id"]
        for r in await db.fetch("SELECT id, student_id, fields FROM student_statement"):
            facts.statements[r["id"]] = (r["student_id"], frozenset(r["fields"]))
        return facts


class Oracle:
    """SPEC §5 applied to one account over the whole database.

    A plain class: Hypothesis prints a dataclass field by field with every failing example."""

    def __init__(
        self,
        user_id: int,
        facts: Facts,
        relations: dict[int, frozenset[str]],
        own_classes: frozenset[int],
    ) -> None:
        self.user_id = user_id
        self.facts = facts
        self.relations = relations
        self.own_classes = own_classes

    def __repr__(self) -> str:  # short: Hypothesis prints it with every failing example
        return f"Oracle(user {self.user_id}, {len(self.relations)} related students)"

    @classmethod
    async def load(cls, db: asyncpg.Connection, user_id: int, facts: Facts) -> Oracle:
        related: dict[int, set[str]] = defaultdict(set)
        for r in await db.fetch(RELATIONS_SQL, user_id):
            related[r["student_id"]].add(r["relation"])
        own = frozenset(r["class_id"] for r in await db.fetch(OWN_CLASSES_SQL, user_id))
        return cls(user_id, facts, {k: frozenset(v) for k, v in related.items()}, own)

    def access(self, student_pk: int) -> StudentAccess:
        relations = self.relations.get(student_pk, frozenset())
        student = self.facts.students.get(student_pk)
        fields: set[str] = set()
        academic: str = NO
        visibilities: set[str] = set()
        for relation in relations:
            row = POLICY[relation]
            if relation == "classmate" and student is not None and student["directory_opt_out"]:
                continue  # "unless opted out"
            for name, klass in FIELD_CLASS.items():
                cell = row[klass]
                if klass in ("academic", "portfolio"):
                    continue
                if cell == YES or (isinstance(cell, frozenset) and name in cell):
                    fields.add(name)
            if row["academic"] == YES or (row["academic"] == OWN_CLASSES and academic == NO):
                academic = row["academic"]
            if relation in WHOLE_PORTFOLIO or not _coppa_withheld(student):
                visibilities |= row["portfolio"]
        marks = classes = enrollments = None
        if academic == YES:
            fields.add("readiness")
            marks = frozenset(m for m, _ in self.facts.marks[student_pk])
            classes = frozenset(c for c, active in self.facts.enrollments[student_pk] if active)
            enrollments = frozenset(c for c, _ in self.facts.enrollments[student_pk])
        elif academic == OWN_CLASSES:
            own = self.own_classes
            marks = frozenset(m for m, c in self.facts.marks[student_pk] if c in own)
            classes = frozenset(
                c for c, active in self.facts.enrollments[student_pk] if active and c in own
            )
            enrollments = frozenset(c for c, _ in self.facts.enrollments[student_pk] if c in own)
        items = None
        if visibilities:
            fields.add("portfolio")
            items = frozenset(i for i, v in self.facts.items[student_pk] if v in visibilities)
        return StudentAccess(
            frozenset(relations), frozenset(fields), marks, classes, enrollments, items
        )


# COPPA: an under-13 student's items without parental consent in force are no longer used; those
# who read the whole portfolio (the student, guardians) still see them.
WHOLE_PORTFOLIO = ("self", "guardian_of")


def _coppa_withheld(student: dict[str, Any] | None) -> bool:
    if student is None or student["coppa_consent"]:
        return False
    born: datetime.date | None = student["date_of_birth"]
    if born is None:
        return True  # an unknown birth date counts as a child's
    today = datetime.datetime.now(datetime.UTC).date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day)) < 13


def expected_value(student: dict[str, Any], name: str) -> Any:
    """The stored value a scalar field of the response must equal (None: not compared)."""
    columns = {
        "firstName": "first_name",
        "lastName": "last_name",
        "preferredName": "preferred_name",
        "gradeLevel": "grade_level",
        "studentNumber": "student_number",
        "email": "email",
        "phone": "phone",
        "gender": "gender",
        "ethnicity": "ethnicity",
    }
    if name == "dateOfBirth":
        value: datetime.date = student["date_of_birth"]
        return value.isoformat()
    return student[columns[name]] if name in columns else None
