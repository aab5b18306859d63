"""Generated from the schema: every filter argument and every list field, for every demo account.

1. The schema is walked (graphql-core's view of it) for every filter argument — every field of
   every input object a query takes, every argument of a list field — and every list field; each
   must have its entry in `schema.reveals.REVEALS`, the table the resolvers read. A new filter or
   list without one fails here.
2. Over HTTP, every filter is tried with values that matter (a class the teacher does not teach,
   a class of the account's own school, another school's, another district's, one that does not
   exist...) and every list is reached through every path of the schema to it, as each demo
   account. No row may appear that the account may not list, and a filter the account may use
   must compare a value it may read for every student it could list.

The oracle (`Oracle`) is SPEC §4-§5 written directly in SQL over the tables (guardian_link,
teaching_assignment, enrollment, role_assignment, legitimate_interest_grant): it does not use
app/relations.py, app/policy.py or the policy files.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLType,
    Undefined,
    get_named_type,
)

from schema import create_schema
from schema.relay import from_global_id, to_global_id
from schema.reveals import AGGREGATE, CURSOR, PAGE, PAYLOAD, REVEALS, VALUE
from tests.helpers import DEMO_ACCOUNTS, GraphQLResponse

Gql = Callable[..., Awaitable[GraphQLResponse]]

ACCOUNTS = DEMO_ACCOUNTS
# The demo accounts, and two of them holding a grant (made by the test, revoked after it):
# (account, grantor, grant scope, index of the target among `candidates()` ids).
GRANTED = {
    "designee+class grant": ("designee", "coordinator", "CLASS", 1),
    "support+school grant": ("support", "principal", "SCHOOL", 0),
}
CASES = (*ACCOUNTS, *GRANTED)
SCHEMA = create_schema()._schema
# Pages of a probe: a root list takes 60 rows (most classes of a school), a nested one 25 (a
# roster is at most 23): enough for a leak to show, small enough to stay cheap.
PAGE_SIZE = 60
NESTED_PAGE_SIZE = 25
PARENT_PAGE_SIZE = 12  # a list the probe only goes through, to reach the lists inside it

# --- 1. walking the schema --------------------------------------------------------------------


def _unwrap(t: GraphQLType) -> GraphQLType:
    while isinstance(t, GraphQLNonNull):
        t = t.of_type
    return t


def _is_connection(t: GraphQLType) -> bool:
    t = _unwrap(t)
    return isinstance(t, GraphQLObjectType) and "edges" in t.fields and "pageInfo" in t.fields


def is_list(t: GraphQLType) -> bool:
    return isinstance(_unwrap(t), GraphQLList) or _is_connection(t)


def item_type(t: GraphQLType) -> GraphQLNamedType:
    """The type of a list's rows (a connection's nodes)."""
    named = get_named_type(t)
    if _is_connection(t):
        assert isinstance(named, GraphQLObjectType)
        edges = get_named_type(named.fields["edges"].type)
        assert isinstance(edges, GraphQLObjectType)
        return get_named_type(edges.fields["node"].type)
    return named


def _object_types() -> Iterator[GraphQLObjectType]:
    for name, t in sorted(SCHEMA.type_map.items()):
        if isinstance(t, GraphQLObjectType) and not name.startswith("__"):
            yield t


def _input_fields(t: GraphQLInputObjectType) -> Iterator[str]:
    for name, f in t.fields.items():
        yield f"{t.name}.{name}"
        inner = get_named_type(f.type)
        if isinstance(inner, GraphQLInputObjectType):
            yield from _input_fields(inner)


def discover() -> tuple[set[str], set[str]]:
    """(filter arguments, list fields) of the schema, as `Type.field(argument)`, `Input.field`
    and `Type.field`. A connection's `edges` belong to the connection field itself; mutation
    arguments are inputs to a change, not filters."""
    filters: set[str] = set()
    lists: set[str] = set()
    mutation = SCHEMA.mutation_type
    for t in _object_types():
        for name, f in t.fields.items():
            if _is_connection(t) and name == "edges":
                continue
            listed = is_list(f.type)
            if listed:
                lists.add(f"{t.name}.{name}")
            if t is mutation:
                continue
            for arg_name, arg in f.args.items():
                inner = get_named_type(arg.type)
                if isinstance(inner, GraphQLInputObjectType):
                    filters |= set(_input_fields(inner))
                elif listed:
                    filters.add(f"{t.name}.{name}({arg_name})")
    return filters, lists


def test_every_filter_and_list_is_registered() -> None:
    filters, lists = discover()
    assert filters and lists
    missing = sorted((filters | lists) - set(REVEALS))
    assert not missing, f"register these in schema/reveals.py (what each reveals): {missing}"
    stale = sorted(set(REVEALS) - filters - lists)
    assert not stale, f"schema/reveals.py names what the schema no longer has: {stale}"


# What each filter of a student list compares, from SPEC §4 (field → class) and §7; the test's
# own reading, checked against the table the code reads (and used by the oracle below).
COMPARES: dict[str, tuple[str, ...]] = {
    "StudentFilter.schoolId": ("school",),
    "StudentFilter.classId": ("classes",),
    "StudentFilter.gradeLevel": ("gradeLevel",),
    "StudentFilter.nameStartsWith": ("firstName", "lastName"),
    "StudentFilter.gender": ("gender",),
    "StudentFilter.ethnicity": ("ethnicity",),
    "Query.disclosures(studentId)": ("disclosures",),
    "Query.disclosures(viewerId)": ("disclosures",),
}
ORDER_COMPARES = {
    "NAME": ("lastName", "firstName"),
    "GRADE_LEVEL": ("gradeLevel", "lastName", "firstName"),
    "DATE_OF_BIRTH": ("dateOfBirth", "lastName", "firstName"),
    "DISPLAY_NAME": ("displayName",),
    "ID": (),
}


def test_the_table_says_what_each_student_filter_compares() -> None:
    for coordinate, fields in COMPARES.items():
        assert REVEALS[coordinate].objects == tuple(f"Student.{f}" for f in fields), coordinate
    filters, _ = discover()
    for coordinate in filters:
        reveal = REVEALS[coordinate]
        if any(obj.startswith("Student.") for obj in reveal.objects):
            assert coordinate in COMPARES, f"{coordinate}: say in COMPARES what it compares"


# --- 2. the oracle: SPEC §4-§5 in SQL ---------------------------------------------------------

SPEC_CLASS = {  # SPEC §4
    "firstName": "directory",
    "lastName": "directory",
    "preferredName": "directory",
    "displayName": "directory",
    "gradeLevel": "directory",
    "school": "directory",
    "email": "contact",
    "phone": "contact",
    "dateOfBirth": "demographic",
    "gender": "demographic",
    "ethnicity": "demographic",
    "marks": "academic",
    "readiness": "academic",
    "classes": "academic",
    "enrollments": "academic",
    "disclosures": "disclosures",
}
OFFICIAL = ("coordinator", "designee", "school_admin", "district_admin")
ADMINS = ("school_admin", "district_admin")
REPORT_ROLES = ("coordinator", "school_admin", "district_admin", "reporting")  # SPEC §8
_ACTIVE = "{a}.begins_on <= CURRENT_DATE AND ({a}.ends_on IS NULL OR {a}.ends_on >= CURRENT_DATE)"


@dataclass
class Oracle:
    """What one account may list and read (SPEC §5), from the tables."""

    user_id: int
    district_id: int
    roles: set[tuple[str, int | None]]
    students: dict[int, tuple[int, int]]  # id → (school, district), every district
    self_id: int | None
    guardian_of: set[int]
    taught_classes: set[int]
    taught_students: set[int]
    classmates: set[int]
    granted: set[int]  # students an active grant covers
    grantee_roles: set[str]
    class_rows: dict[int, tuple[int, int, str]]  # id → (school, district, visibility)
    enrolled_ever: dict[int, set[int]] = field(default_factory=dict)  # class → students

    def _official(self, school: int, roles: tuple[str, ...]) -> set[str]:
        return {r for r, s in self.roles if r in roles and s in (None, school)}

    def relations(self, student: int) -> set[str]:
        school, district = self.students[student]
        if district != self.district_id:
            return set()
        found = set()
        if student == self.self_id:
            found.add("self")
        if student in self.guardian_of:
            found.add("guardian_of")
        if student in self.taught_students:
            found.add("teacher_of")
        if student in self.classmates:
            found.add("classmate")
        if self._official(school, ADMINS):
            found.add("admin")
        elif self._official(school, OFFICIAL):
            found.add("school_official")
        if student in self.granted:
            found.add("legitimate_interest")
        return found

    def may_list(self, student: int) -> bool:
        return bool(self.relations(student))

    def may_read(self, student: int, name: str, *, class_id: int | None = None) -> bool:
        """May the account read field `name` of the student (in class `class_id`)?"""
        cls = SPEC_CLASS[name]
        for relation in self.relations(student):
            if relation in ("self", "guardian_of"):
                return True
            if relation == "admin" and cls != "portfolio":
                return True
            if relation == "teacher_of":
                if cls in ("directory", "contact"):
                    return True
                if cls == "academic" and class_id in self.taught_classes:
                    return True
            if relation == "classmate" and name in ("firstName", "displayName"):
                return True
            if relation == "school_official" and cls == "directory":
                return True
            if relation == "legitimate_interest":
                # Coordinators and designees also read demographics (SPEC §5); other grantees
                # (a teacher, vendor support) what the work needs.
                release = {"directory", "contact", "academic"}
                if self.grantee_roles & {"coordinator", "designee"}:
                    release.add("demographic")
                if cls in release:
                    return True
        return False

    def may_read_item(self, student: int, visibility: str) -> bool:
        """A portfolio item, by its visibility (SPEC §3 and §5)."""
        relations = self.relations(student)
        if relations & {"self", "guardian_of"}:
            return True
        if "teacher_of" in relations and visibility in ("TEACHERS", "COORDINATOR"):
            return True
        officials = self._official(self.students[student][0], ("coordinator", "designee"))
        return (
            "legitimate_interest" in relations and bool(officials) and visibility == "COORDINATOR"
        )

    def may_read_everywhere(self, name: str, *, class_id: int | None = None) -> bool:
        """May the account read `name` of every student it could list?"""
        listed = [s for s in self.students if self.may_list(s)]
        return all(self.may_read(s, name, class_id=class_id) for s in listed)

    def may_see_class(self, class_id: int) -> bool:
        """A class (organisational) is listed when public, taught, overseen, or attended by a
        student whose enrollment in it the account may read."""
        school, district, visibility = self.class_rows[class_id]
        if district != self.district_id:
            return False
        if visibility == "PUBLIC" or class_id in self.taught_classes:
            return True
        if self._official(school, OFFICIAL):
            return True
        return any(
            self.may_read(s, "classes", class_id=class_id)
            for s in self.enrolled_ever.get(class_id, ())
        )


async def build_oracle(db: asyncpg.Connection, username: str) -> Oracle:
    user = await db.fetchrow("SELECT id, district_id FROM app_user WHERE username = $1", username)
    uid = user["id"]
    roles = {
        (r["role"], r["school_id"])
        for r in await db.fetch(
            "SELECT role, school_id FROM role_assignment WHERE user_id = $1", uid
        )
    }
    students = {
        r["id"]: (r["school_id"], r["district_id"])
        for r in await db.fetch("SELECT id, school_id, district_id FROM student")
    }
    self_id = await db.fetchval("SELECT id FROM student WHERE user_id = $1", uid)
    guardian_of = await db.fetch(
        f"""
        SELECT gl.student_id FROM guardian_link gl JOIN student s ON s.id = gl.student_id
        WHERE gl.guardian_user_id = $1 AND gl.data_access
          AND {_ACTIVE.format(a="gl").replace("begins_on", "starts_on")}
          AND (age(CURRENT_DATE, s.date_of_birth) < interval '18 years'
               OR coalesce((SELECT c.granted FROM consent c WHERE c.student_id = s.id
                            AND c.kind = 'guardian_access'
                            ORDER BY c.recorded_at DESC, c.id DESC LIMIT 1), false))
        """,
        uid,
    )
    teaching = _ACTIVE.format(a="ta").replace("begins_on", "starts_on")
    taught = await db.fetch(
        f"SELECT class_id FROM teaching_assignment ta WHERE staff_user_id = $1 AND {teaching}",
        uid,
    )
    taught_classes = {r["class_id"] for r in taught}
    taught_students = await db.fetch(
        f"SELECT student_id FROM enrollment e WHERE class_id = ANY($1::bigint[])"
        f" AND {_ACTIVE.format(a='e')}",
        list(taught_classes),
    )
    classmates = await db.fetch(
        f"""
        SELECT DISTINCT e2.student_id FROM enrollment e1
        JOIN enrollment e2 ON e2.class_id = e1.class_id AND e2.student_id <> e1.student_id
        JOIN student mate ON mate.id = e2.student_id
        WHERE e1.student_id = $1 AND NOT mate.directory_opt_out
          AND {_ACTIVE.format(a="e1")} AND {_ACTIVE.format(a="e2")}
        """,
        self_id,
    )
    granted = await db.fetch(
        f"""
        SELECT s.id FROM legitimate_interest_grant g JOIN student s ON
          (g.scope = 'student' AND s.id = g.student_id)
          OR (g.scope = 'school' AND s.school_id = g.school_id)
          OR (g.scope = 'class' AND s.id IN (SELECT e.student_id FROM enrollment e
                                            WHERE e.class_id = g.class_id
                                              AND {_ACTIVE.format(a="e")}))
        WHERE g.grantee_user_id = $1 AND g.revoked_at IS NULL
          AND g.starts_at <= now() AND g.expires_at > now()
          -- a vendor's grant covers the students whose consent to third parties is in force
          AND (NOT EXISTS (SELECT 1 FROM role_assignment r
                           WHERE r.user_id = $1 AND r.role = 'support')
               OR coalesce((SELECT c.granted FROM consent c WHERE c.student_id = s.id
                              AND c.kind = 'third_party_disclosure'
                            ORDER BY c.recorded_at DESC, c.id DESC LIMIT 1), false))
        """,
        uid,
    )
    class_rows = {
        r["id"]: (r["school_id"], r["district_id"], r["visibility"])
        for r in await db.fetch("SELECT id, school_id, district_id, visibility FROM class_section")
    }
    enrolled_ever: dict[int, set[int]] = {}
    for r in await db.fetch("SELECT class_id, student_id FROM enrollment"):
        enrolled_ever.setdefault(r["class_id"], set()).add(r["student_id"])
    return Oracle(
        user_id=uid,
        district_id=user["district_id"],
        roles=roles,
        students=students,
        self_id=self_id,
        guardian_of={r["student_id"] for r in guardian_of},
        taught_classes=taught_classes,
        taught_students={r["student_id"] for r in taught_students},
        classmates={r["student_id"] for r in classmates},
        granted={r["id"] for r in granted},
        grantee_roles={r for r, _ in roles},
        class_rows=class_rows,
        enrolled_ever=enrolled_ever,
    )


# --- values that matter -----------------------------------------------------------------------


MISSING = 999_999_999


async def candidates(db: asyncpg.Connection) -> dict[str, list[Any]]:
    """Filter values by kind. Ids of each type run from the demo accounts' own world to its
    edge: one of theirs, one beside it, one of another school, then (always the last two) one of
    the other district and one that does not exist."""
    active = _ACTIVE.format(a="e")
    taught = """SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u
                 ON u.id = ta.staff_user_id WHERE u.username = 'teacher'"""

    async def one(sql: str) -> int:
        value = await db.fetchval(sql)
        assert value is not None, sql
        return int(value)

    def with_students(where: str) -> str:
        return (
            "SELECT c.id FROM class_section c JOIN enrollment e ON e.class_id = c.id"
            f" WHERE {active} AND {where} GROUP BY c.id ORDER BY count(*) DESC, c.id LIMIT 1"
        )

    classes = [
        await one(with_students(f"c.id IN ({taught})")),
        await one(with_students(f"c.id NOT IN ({taught}) AND c.school_id = 1")),
        await one(with_students("c.district_id = 1 AND c.school_id <> 1")),
        await one(with_students("c.district_id <> 1")),
    ]
    me = await db.fetchrow(
        "SELECT s.* FROM student s JOIN app_user u ON u.id = s.user_id WHERE u.username='student'"
    )
    students = [
        me["id"],
        await one(
            "SELECT gl.student_id FROM guardian_link gl JOIN app_user u"
            " ON u.id = gl.guardian_user_id WHERE u.username = 'guardian'"
            f" AND gl.student_id <> {me['id']} ORDER BY 1 LIMIT 1"
        ),
        await one(
            "SELECT s.id FROM student s WHERE s.school_id = 1 AND s.id NOT IN"
            f" (SELECT e.student_id FROM enrollment e WHERE e.class_id IN ({taught}) AND {active})"
            " ORDER BY s.id LIMIT 1"
        ),
        await one("SELECT id FROM student WHERE district_id <> 1 ORDER BY id LIMIT 1"),
    ]
    schools = [
        1,
        await one("SELECT id FROM school WHERE district_id = 1 AND id <> 1 ORDER BY id LIMIT 1"),
        await one("SELECT id FROM school WHERE district_id <> 1 ORDER BY id LIMIT 1"),
    ]
    users = [
        await one("SELECT id FROM app_user WHERE username = 'teacher'"),
        await one("SELECT id FROM app_user WHERE username = 'admin'"),
        await one("SELECT id FROM app_user WHERE district_id <> 1 ORDER BY id LIMIT 1"),
    ]
    return {
        "Class": [to_global_id("Class", pk) for pk in (*classes, MISSING)],
        "Student": [to_global_id("Student", pk) for pk in (*students, MISSING)],
        "School": [to_global_id("School", pk) for pk in (*schools, MISSING)],
        "StaffMember": [to_global_id("StaffMember", pk) for pk in (*users, MISSING)],
        "gradeLevel": [me["grade_level"], 0],
        "nameStartsWith": [me["last_name"][:2], "zz"],
        "gender": [me["gender"], "X"],
        "ethnicity": [me["ethnicity"]],
        # Values of rows whose access is already decided (the record's and the audit's own).
        "fieldClass": ["contact", "demographic"],
        "from": ["2020-01-01T00:00:00Z"],
        "to": ["2100-01-01T00:00:00Z"],
        "action": ["record_mark", "assign_role"],
        "targetType": ["Student", "Mark"],
        # Accounts (Query.users): values of rows whose access is decided by the list itself.
        "lastSignInBefore": ["2100-01-01T00:00:00Z"],
        "search": ["teach", "zz"],
    }


_ID_TYPES = {
    "classId": "Class",
    "schoolId": "School",
    "studentId": "Student",
    "viewerId": "StaffMember",
    "actorId": "StaffMember",
    "userId": "StaffMember",
    "targetId": "Student",
}


def values_for(name: str, t: GraphQLType, found: dict[str, list[Any]]) -> list[Any]:
    named = get_named_type(t)
    if isinstance(named, GraphQLEnumType):
        return list(named.values)
    if named.name == "Boolean":
        return [True, False]
    if named.name == "ID":
        assert name in _ID_TYPES, f"which type of id does {name!r} take? add it to _ID_TYPES"
        return found[_ID_TYPES[name]]
    assert name in found, f"no values to try for the filter {name!r}: add some to candidates()"
    return found[name]


# --- queries ----------------------------------------------------------------------------------

# Fields the oracle needs of a row, by type (ids are decoded, never trusted for anything else).
ROW_FIELDS = {
    "Enrollment": "class { id }",
    "Mark": "class { id }",
    "PortfolioItem": "id visibility",
}


def _row_selection(t: GraphQLNamedType) -> str:
    if not isinstance(t, GraphQLObjectType):
        return ""  # scalars and enums: the values themselves
    if t.name in ROW_FIELDS:
        return ROW_FIELDS[t.name]
    return "id" if "id" in t.fields else "__typename"


def _select(f: GraphQLField, inner: str, args: str = "") -> str:
    """`(args) { ... }` for field `f`, with a connection's edges and nodes in between."""
    call = f"({args})" if args else ""
    if not inner:
        return call
    if _is_connection(f.type):
        inner = f"edges {{ node {{ {inner} }} }}"
    return f"{call} {{ {inner} }}"


def _default_args(f: GraphQLField, *, page: int) -> str | None:
    """Arguments for a hop: a page size for lists; None when a required one is unknown."""
    parts = []
    for name, arg in f.args.items():
        if name == "first" and is_list(f.type):
            parts.append(f"first: {page}")
        elif isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined:
            named = get_named_type(arg.type)
            if isinstance(named, GraphQLEnumType):
                parts.append(f"{name}: {next(iter(named.values))}")
            else:
                return None
    return ", ".join(parts)


@dataclass(frozen=True)
class Path:
    """A way from the root to a list field: (field name, arguments) hops."""

    hops: tuple[tuple[str, str, GraphQLObjectType], ...]
    target: str  # `Type.field`

    def query(self) -> str:
        *parents, (name, args, owner) = self.hops
        f = owner.fields[name]
        text = f"{name} {_select(f, _row_selection(item_type(f.type)), args)}"
        for hop_name, hop_args, hop_owner in reversed(parents):
            hop = hop_owner.fields[hop_name]
            inner = item_type(hop.type)
            keep = "id " if isinstance(inner, GraphQLObjectType) and "id" in inner.fields else ""
            text = f"{hop_name} {_select(hop, keep + text, hop_args)}"
        return "{ " + text + " }"


def paths(found: dict[str, list[Any]], depth: int = 4) -> Iterator[Path]:
    """Every path to every list field, through at most `depth` objects, no type twice."""
    query = SCHEMA.query_type
    assert query is not None

    def walk(
        owner: GraphQLObjectType,
        hops: tuple[tuple[str, str, GraphQLObjectType], ...],
        seen: set[str],
    ) -> Iterator[Path]:
        for name, f in owner.fields.items():
            if owner is query and set(f.args) == {"id"}:
                for value in found.get(get_named_type(f.type).name, []):
                    yield from step(owner, name, f, (f'id: "{value}"',) * 2, hops, seen)
                continue
            # A list is paged by what it is: the probe's target, or a parent of more rows.
            target = _default_args(f, page=NESTED_PAGE_SIZE if hops else PAGE_SIZE)
            parent = _default_args(f, page=PARENT_PAGE_SIZE)
            if target is not None and parent is not None:
                yield from step(owner, name, f, (target, parent), hops, seen)

    def step(
        owner: GraphQLObjectType,
        name: str,
        f: GraphQLField,
        args: tuple[str, str],
        hops: tuple[tuple[str, str, GraphQLObjectType], ...],
        seen: set[str],
    ) -> Iterator[Path]:
        if is_list(f.type):
            yield Path((*hops, (name, args[0], owner)), f"{owner.name}.{name}")
        here = (*hops, (name, args[1], owner))
        inner = item_type(f.type)
        # Below a root named by id (`class(id)`, `student(id)`) the lists are those the
        # other roots reach too: a roster, a student's classes and their rosters suffice.
        limit = depth - 1 if here[0][1].startswith("id:") else depth
        if isinstance(inner, GraphQLObjectType) and inner.name not in seen and len(here) < limit:
            yield from walk(inner, here, seen | {inner.name})

    yield from walk(query, (), {"Query"})


# --- 3. the checks ----------------------------------------------------------------------------


def _pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


def _items(value: Any) -> list[Any]:
    """The rows of a list or connection value."""
    if value is None:
        return []
    if isinstance(value, dict) and "edges" in value:
        return [edge["node"] for edge in value["edges"]]
    return list(value)


def _walk_rows(
    data: Any, hops: tuple[tuple[str, str, GraphQLObjectType], ...], parent: dict[str, Any] | None
) -> Iterator[tuple[dict[str, Any] | None, list[Any] | None]]:
    """(parent object, rows of the target list; None when redacted) for every parent reached."""
    (name, _, _), *rest = hops
    value = data.get(name) if isinstance(data, dict) else None
    if not rest:
        yield parent, (None if value is None else _items(value))
        return
    objects = (
        _items(value)
        if isinstance(value, list) or (isinstance(value, dict) and "edges" in value)
        else ([value] if value is not None else [])
    )
    for obj in objects:
        yield from _walk_rows(obj, tuple(rest), obj)


class Checker:
    """Asserts that the rows of one list are rows the account may list (SPEC §5)."""

    def __init__(self, oracle: Oracle, db_rows: dict[str, dict[int, Any]]) -> None:
        self.o = oracle
        self.rows = db_rows

    def check(self, target: str, parent: dict[str, Any] | None, rows: list[Any]) -> None:
        o = self.o
        parent_pk = _pk(parent["id"]) if parent and "id" in parent else None
        where = f"{target} under {parent and parent.get('id')}"
        if target in ("Query.students", "Class.students", "Viewer.children"):
            for row in rows:
                student = _pk(row["id"])
                assert o.may_list(student), f"{where}: lists student {student}"
                if target == "Class.students":
                    assert o.may_read(student, "classes", class_id=parent_pk), (
                        f"{where}: reveals student {student} is enrolled in class {parent_pk}"
                    )
                if target == "Viewer.children":
                    assert student in o.guardian_of, where
        elif target in ("Student.classes", "Student.enrollments", "Student.marks"):
            assert parent_pk is not None
            for row in rows:
                klass = _pk(row["id"] if target == "Student.classes" else row["class"]["id"])
                name = "marks" if target == "Student.marks" else "classes"
                assert o.may_read(parent_pk, name, class_id=klass), (
                    f"{where}: reveals {name} of student {parent_pk} in class {klass}"
                )
        elif target in (
            "Student.guardians",
            "Student.readiness",
            "Student.disclosures",
            "Student.consents",
        ):
            assert parent_pk is not None
            name = {"Student.guardians": "email", "Student.consents": "disclosures"}.get(
                target, target.split(".")[1]
            )
            assert o.may_read(parent_pk, name), f"{where}: {target} shown"
        elif target == "Student.statements":
            # A statement goes wherever one of the fields it contests may be read.
            for row in rows:
                student, fields = self.rows["student_statement"][_pk(row["id"])]
                assert student == parent_pk, where
                assert any(o.may_read(student, name) for name in fields), (
                    f"{where}: a statement about {fields} shown"
                )
        elif target == "AuditEvent.changes":
            # Below the district's write audit, read by its district administrators only.
            assert rows == [] or ("district_admin", None) in o.roles, where
        elif target == "Portfolio.items":
            student = self.rows["portfolio"][parent_pk]
            for row in rows:
                assert o.may_read_item(student, row["visibility"]), (
                    f"{where}: a {row['visibility']} item of student {student}"
                )
        elif target == "Query.classes":
            for row in rows:
                assert o.may_see_class(_pk(row["id"])), f"{where}: lists class {row['id']}"
        elif target == "Query.schools":
            for row in rows:
                assert self.rows["school"][_pk(row["id"])] == o.district_id, where
        elif target == "Class.teachers":
            for row in rows:
                assert self.rows["app_user"][_pk(row["id"])] == o.district_id, where
        elif target == "Query.legitimateInterestGrants":
            for row in rows:
                district, school, grantee, granter = self.rows["grant"][_pk(row["id"])]
                admin = o._official(school, ADMINS) if school else set()
                assert district == o.district_id and (o.user_id in (grantee, granter) or admin), (
                    f"{where}: grant {row['id']}"
                )
        elif target == "Query.disclosures":
            for row in rows:
                student = self.rows["disclosure"][_pk(row["id"])]
                assert o.may_read(student, "disclosures"), f"{where}: disclosure of {student}"
        elif target == "Query.dataRequests":
            for row in rows:
                student, requester = self.rows["data_request"][_pk(row["id"])]
                school, district = o.students[student]
                assert district == o.district_id, where
                assert requester == o.user_id or o._official(school, ADMINS), (
                    f"{where}: data request {row['id']}"
                )
        elif target == "Query.savedReports":
            assert rows == [] or any(r in REPORT_ROLES for r, _ in o.roles), where
            for row in rows:
                assert self.rows["saved_report"][_pk(row["id"])] == o.district_id, where
        elif target == "Query.auditEvents":
            # The district's write audit: its district administrators only.
            assert rows == [] or ("district_admin", None) in o.roles, where
            for row in rows:
                assert self.rows["audit_event"][_pk(row["id"])] == o.district_id, where
        elif target == "Query.rosterImports":
            # The district's roster uploads: its district administrators only.
            assert rows == [] or ("district_admin", None) in o.roles, where
            for row in rows:
                assert self.rows["roster_import"][_pk(row["id"])] == o.district_id, where
        elif target == "Query.users":
            # Accounts: a district administrator's district, a school administrator's schools
            # (a role there, its students, their guardians).
            assert rows == [] or any(r in ADMINS for r, _ in o.roles), where
            district_wide = ("district_admin", None) in o.roles
            administered = {s for r, s in o.roles if r == "school_admin" and s is not None}
            for row in rows:
                user = _pk(row["id"])
                assert self.rows["app_user"][user] == o.district_id, where
                schools, _ = self.rows["user_schools"].get(user, (set(), False))
                assert district_wide or schools & administered, f"{where}: account {user}"
        elif target in ("AccessReview.accounts", "AccessReview.studentAccounts"):
            # The termly review of a school or the district: its administrators only.
            assert rows == [] or any(r in ADMINS for r, _ in o.roles), where
        elif target == "Viewer.sessions":
            for row in rows:
                user = self.rows["user_session"][row["id"]]
                assert user == o.user_id, f"{where}: another user's session"
        elif target == "Query.activeSessions":
            # Administrators: the district's sessions, or those of the users of their schools
            # who hold no district-wide role.
            for row in rows:
                user = self.rows["user_session"][row["id"]]
                schools, district_wide = self.rows["user_schools"].get(user, (set(), False))
                assert self.rows["app_user"][user] == o.district_id, where
                assert ("district_admin", None) in o.roles or (
                    not district_wide and any(o._official(s, ADMINS) for s in schools)
                ), f"{where}: session of user {user}"
        else:
            reveal = REVEALS[target]
            assert reveal in (VALUE, PAYLOAD, AGGREGATE, PAGE, CURSOR), (
                f"{target}: no oracle for its rows; teach Checker.check what may appear"
            )


async def _db_rows(db: asyncpg.Connection) -> dict[str, dict[int, Any]]:
    return {
        "school": {r["id"]: r["district_id"] for r in await db.fetch("SELECT * FROM school")},
        "app_user": {
            r["id"]: r["district_id"]
            for r in await db.fetch("SELECT id, district_id FROM app_user")
        },
        "grant": {
            r["id"]: (r["district_id"], r["school_id"], r["grantee_user_id"], r["granted_by"])
            for r in await db.fetch("SELECT * FROM legitimate_interest_grant")
        },
        "portfolio": {
            r["id"]: r["student_id"] for r in await db.fetch("SELECT id, student_id FROM portfolio")
        },
        "user_session": {
            r["id"]: r["user_id"] for r in await db.fetch("SELECT id, user_id FROM user_session")
        },
        "user_schools": {
            r["user_id"]: (set(r["schools"]) - {None}, r["district_wide"])
            for r in await db.fetch(
                "SELECT u.id AS user_id, ARRAY("
                " SELECT ra.school_id FROM role_assignment ra WHERE ra.user_id = u.id"
                " UNION SELECT s.school_id FROM student s WHERE s.user_id = u.id"
                " UNION SELECT s.school_id FROM guardian_link gl"
                "   JOIN student s ON s.id = gl.student_id WHERE gl.guardian_user_id = u.id"
                ") AS schools, EXISTS (SELECT 1 FROM role_assignment ra WHERE ra.user_id = u.id"
                " AND ra.school_id IS NULL) AS district_wide FROM app_user u"
            )
        },
        "disclosure": {},  # read as the probes need it (the record grows with every read)
        "data_request": {
            r["id"]: (r["student_id"], r["requester_user_id"])
            for r in await db.fetch("SELECT * FROM data_request")
        },
        "student_statement": {
            r["id"]: (r["student_id"], list(r["fields"]))
            for r in await db.fetch("SELECT id, student_id, fields FROM student_statement")
        },
        "saved_report": {
            r["id"]: r["district_id"]
            for r in await db.fetch("SELECT id, district_id FROM saved_report")
        },
        "audit_event": {
            r["id"]: r["district_id"]
            for r in await db.fetch("SELECT id, district_id FROM audit_event")
        },
        "roster_import": {
            r["id"]: r["district_id"]
            for r in await db.fetch("SELECT id, district_id FROM roster_import")
        },
    }


async def _look_up_disclosures(db: asyncpg.Connection, checker: Checker, data: Any) -> None:
    """The students of the district record's rows in an answer (`Query.disclosures`)."""
    if not isinstance(data, dict) or not data.get("disclosures"):
        return
    ids = [_pk(row["id"]) for row in _items(data["disclosures"])]
    rows = await db.fetch("SELECT id, student_id FROM disclosure WHERE id = ANY($1::bigint[])", ids)
    checker.rows["disclosure"].update({r["id"]: r["student_id"] for r in rows})


def _refused(response: GraphQLResponse) -> str | None:
    """The code of a refusal of the whole probe; None when it answered (a field redacted
    inside the answer is not a refusal)."""
    assert response.status in (200, 400, 403), response.body
    refusal = None
    for error in response.errors:
        extensions = error.get("extensions") or {}
        assert extensions.get("code") in ("FORBIDDEN", "UNAUTHENTICATED"), error
        if "pathPattern" not in extensions:
            refusal = extensions["code"]
    return refusal


GRANT = """
mutation ($input: GrantLegitimateInterestInput!) {
  grantLegitimateInterest(input: $input) { grant { id } userErrors { code message } }
}
"""
REVOKE = (
    "mutation ($id: ID!) { revokeLegitimateInterest(input: {id: $id}) { userErrors { code } } }"
)


@asynccontextmanager
async def signed_in(
    case: str, gql: Gql, db: asyncpg.Connection, found: dict[str, list[Any]]
) -> AsyncIterator[str]:
    """The account of a case, holding its grant for the duration."""
    if case not in GRANTED:
        yield case
        return
    account, grantor, scope, index = GRANTED[case]
    grantee = await db.fetchval("SELECT id FROM app_user WHERE username = $1", account)
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7)
    target = found["Class" if scope == "CLASS" else "School"][index]
    response = await gql(
        GRANT,
        as_user=grantor,
        variables={
            "input": {
                "granteeId": to_global_id("StaffMember", grantee),
                "scope": scope,
                "targetId": target,
                "purpose": "schema-wide access check",
                "expiresAt": expires.isoformat(),
            }
        },
    )
    payload = response.ok()["grantLegitimateInterest"]
    assert payload["userErrors"] == [], payload
    # A vendor sees only students who consent to disclosure to third parties: half of them do.
    consents = await db.fetch(
        "INSERT INTO consent (district_id, student_id, kind, granted, given_by)"
        " SELECT s.district_id, s.id, 'third_party_disclosure', true, $2 FROM student s"
        " WHERE s.school_id = $1 AND s.id % 2 = 0 RETURNING id",
        _pk(target) if scope == "SCHOOL" else 0,
        grantee,
    ) if account == "support" else []  # fmt: skip
    try:
        yield account
    finally:
        revoked = await gql(REVOKE, as_user=grantor, variables={"id": payload["grant"]["id"]})
        assert revoked.ok()["revokeLegitimateInterest"]["userErrors"] == []
        await db.execute("DELETE FROM consent WHERE id = ANY($1)", [r["id"] for r in consents])


@pytest.mark.parametrize("case", CASES)
async def test_every_list_shows_only_rows_the_account_may_list(
    gql: Gql, db: asyncpg.Connection, case: str
) -> None:
    found = await candidates(db)
    async with signed_in(case, gql, db, found) as account:
        await _check_lists(gql, db, account, found)


async def _check_lists(
    gql: Gql, db: asyncpg.Connection, account: str, found: dict[str, list[Any]]
) -> None:
    oracle = await build_oracle(db, account)
    checker = Checker(oracle, await _db_rows(db))
    reached: set[str] = set()
    for path in paths(found):
        if REVEALS[path.target] in (VALUE, PAYLOAD, AGGREGATE):
            continue  # values of a row already checked, or aggregates: no rows of their own
        response = await gql(path.query(), as_user=account)
        refused = _refused(response)
        if refused is not None:
            assert refused in ("FORBIDDEN", "UNAUTHENTICATED"), (path.query(), response.errors)
            continue
        reached.add(path.target)
        await _look_up_disclosures(db, checker, response.data)
        for parent, rows in _walk_rows(response.data, path.hops, None):
            if rows is not None:
                checker.check(path.target, parent, rows)
    # Every list of student data was reached, and so could fail.
    _, lists = discover()
    rows_of_students = {c for c in lists if REVEALS[c] not in (VALUE, PAYLOAD, AGGREGATE)}
    unreachable = rows_of_students - reached
    assert account != "admin" or not unreachable, unreachable


def _filter_probes(found: dict[str, list[Any]]) -> Iterator[tuple[str, str, str, Any]]:
    """(coordinate, the list it narrows, query with `$v`, value) for every filter argument."""
    query = SCHEMA.query_type
    assert query is not None
    filters, _ = discover()
    for coordinate in sorted(filters):
        reveal = REVEALS[coordinate]
        if reveal in (PAGE, CURSOR, AGGREGATE):
            continue  # page sizes and cursors choose no rows; aggregates are tested apart
        owner_name, _, rest = coordinate.partition(".")
        if "(" in rest:
            field_name, arg = rest.rstrip(")").split("(")
            assert owner_name == "Query", f"{coordinate}: a nested filter; probe it here"
            f = query.fields[field_name]
            arg_type = f.args[arg].type
            call = f"{arg}: $v"
            values = values_for(arg, arg_type, found)
        else:  # a field of an input object: find the list taking it
            [(field_name, f, arg)] = [
                (n, f, a)
                for n, f in query.fields.items()
                for a, spec in f.args.items()
                if get_named_type(spec.type).name == owner_name
            ]
            inner = SCHEMA.type_map[owner_name]
            assert isinstance(inner, GraphQLInputObjectType)
            arg_type = inner.fields[rest].type
            call = f"{arg}: {{{rest}: $v}}"
            values = values_for(rest, arg_type, found)
        first = "first: 1000, " if "first" in f.args else ""
        text = _select(f, _row_selection(item_type(f.type)), first + call)
        type_name = _type_name(arg_type)
        for value in values:
            yield (
                coordinate,
                f"Query.{field_name}",
                f"query ($v: {type_name}) {{ {field_name} {text} }}",
                value,
            )


def _type_name(t: GraphQLType) -> str:
    if isinstance(t, GraphQLNonNull):
        return _type_name(t.of_type) + "!"
    if isinstance(t, GraphQLList):
        return f"[{_type_name(t.of_type)}]"
    assert isinstance(t, (GraphQLScalarType, GraphQLEnumType, GraphQLInputObjectType))
    return t.name


@pytest.mark.parametrize("case", CASES)
async def test_every_filter_compares_only_what_the_account_may_read(
    gql: Gql, db: asyncpg.Connection, case: str
) -> None:
    found = await candidates(db)
    async with signed_in(case, gql, db, found) as account:
        await _check_filters(gql, db, account, found)


async def _check_filters(
    gql: Gql, db: asyncpg.Connection, account: str, found: dict[str, list[Any]]
) -> None:
    oracle = await build_oracle(db, account)
    checker = Checker(oracle, await _db_rows(db))
    outcomes: dict[tuple[str, Any], tuple[str | None, int]] = {}
    for coordinate, target, query, value in _filter_probes(found):
        response = await gql(query, as_user=account, variables={"v": value})
        refused = _refused(response)
        rows = [] if refused else _items(next(iter(response.data.values())))
        outcomes[coordinate, value] = (refused, len(rows))
        if refused:
            continue
        await _look_up_disclosures(db, checker, response.data)
        checker.check(target, None, rows)
        if coordinate == "Query.students(orderBy)":
            fields = ORDER_COMPARES[value]
        else:
            fields = COMPARES.get(coordinate, ())
        class_id = _pk(value) if coordinate == "StudentFilter.classId" else None
        for name in fields:
            assert oracle.may_read_everywhere(name, class_id=class_id), (
                f"{account}: {coordinate}={value!r} compares {name}, which it may not read"
                " for every student it can list"
            )
    # An id of the other district and one that does not exist get the same answer: a refusal
    # for both, or no rows for both.
    for (coordinate, value), outcome in outcomes.items():
        for ids in (found[t] for t in _ID_TYPES.values()):
            if isinstance(value, str) and value == ids[-1]:
                assert outcome == outcomes[coordinate, ids[-2]], (account, coordinate)
                assert outcome[1] == 0, (account, coordinate)


def test_the_probes_cover_every_filter() -> None:
    """Each filter (but page sizes, cursors and aggregates) is tried, so each can fail."""
    found = {k: ["x"] for k in ("Class", "School", "Student", "StaffMember")} | {
        k: [1]
        for k in (
            "gradeLevel",
            "nameStartsWith",
            "gender",
            "ethnicity",
            "fieldClass",
            "from",
            "to",
            "action",
            "targetType",
            "lastSignInBefore",
            "search",
        )
    }
    probed = {coordinate for coordinate, *_ in _filter_probes(found)}
    filters, _ = discover()
    expected = {c for c in filters if REVEALS[c] not in (PAGE, CURSOR, AGGREGATE)}
    assert probed == expected
