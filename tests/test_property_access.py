"""Property: whatever a query asks, every student value in the answer is one SPEC §5 allows.

Hypothesis writes random read queries by walking the schema from `Query`: every root field that
reaches a `Student` (directly, through `node`, a class roster, the viewer's children, a mark's or
an enrollment's class...), random filters and orders, random `first`, and random sub-selections of
every Student field. Each runs over HTTP as one demo account (and as grant holders), and every
Student object in the answer is checked against `tests.oracle`, which computes the relations
from the tables and applies the table of §5 written out as data:

- the row is one the account is related to at all (a row it may not list must not appear);
- every non-null field is one the account may read, and equals the stored value;
- list fields hold only the rows released (marks of the teacher's own classes, the portfolio
  items of the released visibilities, ...);
- a class roster, a `classId` filter, any other filter and a value order reveal a student's
  membership or value only to an account that may read it.

The run is derandomized (fixed seed, no example database) with a fixed budget per account, so
CI is fast and repeatable; at its end it prints the examples run and the Student objects checked
per account. `PROPERTY_EXAMPLES` (default 40) raises the budget for a longer local hunt.
"""

from __future__ import annotations

import base64
import datetime
import os
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from app.config import get_settings
from schema import create_schema
from tests.helpers import DEMO_ACCOUNTS
from tests.oracle import FIELD_CLASS, Facts, Oracle, StudentAccess, expected_value

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "40"))

# The nine demo accounts of SPEC §12, anonymous, and two holders of a legitimate-interest grant.
ACCOUNTS = [
    *DEMO_ACCOUNTS,
    "anonymous",
    "designee+class grant",
    "coordinator+student grant",
]

# Nested lists stay small so that an example answers quickly and within the query limits.
ROOT_FIRST = 25
NESTED_FIRST = 6
# Object fields per query: the paths branch at every level, and unbounded they make documents of
# hundreds of kilobytes that only the token limit would answer.
NESTED_OBJECTS = 12


def _gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode()


def _pk(global_id: str) -> tuple[str, int]:
    type_name, _, pk = base64.urlsafe_b64decode(global_id.encode()).decode().partition(":")
    return type_name, int(pk)


# --- the schema, walked ---------------------------------------------------------------------------


def _reaching_student(schema: GraphQLSchema) -> set[str]:
    """Names of the types from which some path of fields ends at a `Student`."""
    reach = {"Student"}
    changed = True
    while changed:
        changed = False
        for name, type_ in schema.type_map.items():
            if name in reach or name.startswith("__"):
                continue
            targets: list[GraphQLNamedType] = []
            if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
                targets = [get_named_type(f.type) for f in type_.fields.values()]
            if isinstance(type_, GraphQLInterfaceType):
                targets += list(schema.get_possible_types(type_))
            if any(t.name in reach for t in targets):
                reach.add(name)
                changed = True
    return reach


@dataclass(frozen=True)
class Ref:
    """The `index`-th value of a pool, filled in when the example runs (`Pools.resolve`).

    Hypothesis draws every example outside the test's coroutine (its context does not reach
    into one), before the database is at hand: so the draw names a pool slot, not an id."""

    pool: str
    index: int


# Slots drawn per pool; a pool with fewer values wraps around.
POOL_SLOTS = {"students": 16, "classes": 16, "schools": 8, "genders": 4, "ethnicities": 8}


def _ref(pool: str) -> st.SearchStrategy[Ref]:
    return st.integers(0, POOL_SLOTS[pool] - 1).map(lambda i: Ref(pool, i))


class Pools:
    """Ids worth asking for: related, unrelated, other school, other district, nonexistent.

    A plain class: Hypothesis prints a dataclass field by field with every failing example."""

    def __init__(self, **pools: list[str]) -> None:
        self.students, self.classes = pools["students"], pools["classes"]
        self.schools, self.genders = pools["schools"], pools["genders"]
        self.ethnicities = pools["ethnicities"]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            pool: list[str] = getattr(self, value.pool)
            return pool[value.index % len(pool)]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def __repr__(self) -> str:  # short: Hypothesis prints it with every failing example
        return f"Pools({len(self.students)} students, {len(self.classes)} classes)"


@dataclass(frozen=True)
class Case:
    """One generated query: its root field, the root's arguments (with `Ref`s), the rest."""

    root: str
    args: dict[str, Any]
    body: str

    def document(self, pools: Pools) -> tuple[str, dict[str, Any]]:
        args = pools.resolve(self.args)
        return f"query {{ {self.root}{_format_args(args)} {self.body} }}", args


class QueryWriter:
    """Random queries over the read schema; every Student, Class and Node selects its id."""

    def __init__(self, schema: GraphQLSchema, max_depth: int) -> None:
        self.schema = schema
        self.reach = _reaching_student(schema)
        self.max_depth = max_depth
        query = schema.query_type
        assert query is not None
        self.roots = sorted(n for n, f in query.fields.items() if self._reaches(f))

    def _reaches(self, f: GraphQLField) -> bool:
        return get_named_type(f.type).name in self.reach

    def query(self, draw: st.DrawFn) -> Case:
        root = draw(st.sampled_from(self.roots))
        query = self.schema.query_type
        assert query is not None
        f = query.fields[root]
        args = self._root_args(draw, root, f)
        budget = [NESTED_OBJECTS]
        return Case(root, args, self._selection(draw, get_named_type(f.type), 2, budget))

    def _root_args(self, draw: st.DrawFn, root: str, f: GraphQLField) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if root == "students":
            args["first"] = draw(st.integers(1, ROOT_FIRST))
            args["orderBy"] = Enum(draw(st.sampled_from(["NAME", "GRADE_LEVEL", "DATE_OF_BIRTH"])))
            # Mostly no filter or one condition: several at once rarely leave a row to check.
            values = {
                "schoolId": _ref("schools"),
                "classId": _ref("classes"),
                "gradeLevel": st.integers(-1, 12),
                "nameStartsWith": st.text("ABCDEJLMRST", min_size=1, max_size=2),
                "gender": _ref("genders"),
                "ethnicity": _ref("ethnicities"),
            }
            keys = draw(st.lists(st.sampled_from(sorted(values)), unique=True, max_size=2))
            flt = {key: draw(values[key]) for key in keys}
            if flt:
                args["filter"] = flt
        elif root == "classes":
            args["first"] = draw(st.integers(0, NESTED_FIRST))
            args.update(
                draw(
                    st.fixed_dictionaries(
                        {},
                        optional={"schoolId": _ref("schools"), "mine": st.booleans()},
                    )
                )
            )
        elif root == "student":
            args["id"] = draw(_ref("students"))
        elif root == "class":
            args["id"] = draw(_ref("classes"))
        elif root == "node":
            args["id"] = draw(st.one_of(_ref("students"), _ref("classes")))
        else:
            for name, arg in f.args.items():
                assert not _required(arg), f"no values for {root}({name})"
        return args

    def _selection(
        self, draw: st.DrawFn, type_: GraphQLNamedType, depth: int, budget: list[int]
    ) -> str:
        """A random selection on `type_`; `budget` counts the object fields still allowed."""
        if isinstance(type_, GraphQLInterfaceType):
            parts = ["__typename", "id"] if "id" in type_.fields else ["__typename"]
            for possible in self.schema.get_possible_types(type_):
                if possible.name in self.reach and draw(st.booleans()):
                    parts.append(
                        f"... on {possible.name} {self._selection(draw, possible, depth, budget)}"
                    )
            return "{ " + " ".join(parts) + " }"
        assert isinstance(type_, GraphQLObjectType), type_
        fields = type_.fields
        always = [n for n in ("__typename", "id") if n == "__typename" or n in fields]
        if type_.name == "Enrollment":
            always.append("class { __typename id }")
        parts = list(always)
        for name in sorted(n for n in fields if n != "id"):
            f = fields[name]
            target = get_named_type(f.type)
            if any(_required(a) for a in f.args.values()):
                continue
            # Paths towards a Student are taken three times in four, anything else one in two;
            # both shrink towards leaving the field out.
            towards_student = target.name in self.reach
            # A connection's rows are what there is to check: its edges and nodes always.
            forced = towards_student and name in ("edges", "node")
            if not forced and not draw(st.integers(0, 3) if towards_student else st.integers(0, 1)):
                continue
            if is_leaf_type(target):
                parts.append(name)
                continue
            # One more level for the field, one for the leaves of its selection.
            if depth + 2 > self.max_depth or budget[0] <= 0:
                continue
            budget[0] -= 1
            args = {"first": draw(st.integers(0, NESTED_FIRST))} if "first" in f.args else {}
            parts.append(
                f"{name}{_format_args(args)} {self._selection(draw, target, depth + 1, budget)}"
            )
        return "{ " + " ".join(parts) + " }"


def _required(arg: GraphQLArgument) -> bool:
    return isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined


@dataclass(frozen=True)
class Enum:
    value: str


def _format_value(value: Any) -> str:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _format_args(args: dict[str, Any]) -> str:
    if not args:
        return ""
    return "(" + ", ".join(f"{k}: {_format_value(v)}" for k, v in args.items()) + ")"


# The whole read schema, walked once; one level is kept for the leaves under the depth limit.
QUERIES = st.composite(
    QueryWriter(create_schema()._schema, max_depth=get_settings().max_depth - 1).query
)()


# Every Student field at once, on the three main paths: whatever the random draws favour, each
# account has these checked on every run.
EVERY_FIELD = (
    "{ __typename id firstName lastName preferredName displayName gradeLevel"
    " school { __typename id } studentNumber email phone guardians { __typename id }"
    " dateOfBirth gender ethnicity"
    " marks { __typename id } classes { __typename id } enrollments { __typename class {"
    " __typename id } } readiness { __typename id } portfolio { __typename id headline items {"
    " __typename id visibility } } disclosures(first: 3) { __typename id } }"
)
EVERYTHING = [
    Case(
        "students",
        {"first": ROOT_FIRST, "orderBy": Enum("NAME")},
        f"{{ edges {{ node {EVERY_FIELD} }} pageInfo {{ hasNextPage }} }}",
    ),
    Case(
        "classes",
        {"first": NESTED_FIRST},
        f"{{ edges {{ node {{ __typename id students(first: {NESTED_FIRST})"
        f" {{ edges {{ node {EVERY_FIELD} }} }} }} }} }}",
    ),
    Case("viewer", {}, f"{{ children {EVERY_FIELD} student {EVERY_FIELD} }}"),
]


# --- the checks -----------------------------------------------------------------------------------


class Checker:
    """Every Student and class roster in one answer, against the oracle of one account."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.facts = oracle.facts
        self.leaks: list[str] = []
        self.students_seen = 0

    def leak(self, pk: int, access: StudentAccess, what: str) -> None:
        relations = ",".join(sorted(access.relations)) or "no relation"
        self.leaks.append(f"Student {pk} ({relations}): {what}")

    def walk(self, value: Any) -> None:
        if isinstance(value, list):
            for v in value:
                self.walk(v)
        elif isinstance(value, dict):
            typename = value.get("__typename")
            if typename == "Student":
                self.student(value)
            elif typename == "Class" and value.get("students") is not None:
                self.roster(value)
            for v in value.values():
                self.walk(v)

    def student(self, obj: dict[str, Any]) -> None:
        self.students_seen += 1
        _, pk = _pk(obj["id"])
        access = self.oracle.access(pk)
        row = self.facts.students.get(pk)
        if not access.visible or row is None:
            self.leak(pk, access, "listed, but the account may not see this student at all")
            return
        for name, value in obj.items():
            if name in ("__typename", "id") or value is None:
                continue
            self.field(pk, row, access, name, value)

    def field(
        self, pk: int, row: asyncpg.Record, access: StudentAccess, name: str, value: Any
    ) -> None:
        allowed = {
            "marks": access.marks,
            "classes": access.classes,
            "enrollments": access.enrollments,
        }
        if name in allowed:
            released = allowed[name]
            if released is None:
                self.leak(pk, access, f"{name} ({FIELD_CLASS[name]}) is not readable")
                return
            ids = (
                [_pk(e["class"]["id"])[1] for e in value if e.get("class")]
                if name == "enrollments"
                else [_pk(v["id"])[1] for v in value]
            )
            if extra := sorted(set(ids) - released):
                self.leak(pk, access, f"{name} shows rows {extra} outside {sorted(released)}")
            return
        if name == "statements":
            # Shown wherever a field it contests may be read (and nowhere else).
            for statement in value:
                student, fields = self.facts.statements[_pk(statement["id"])[1]]
                if student != pk or not fields & access.fields:
                    self.leak(pk, access, f"a statement about {sorted(fields)} is shown")
            return
        if name not in access.fields:
            self.leak(pk, access, f"{name} ({FIELD_CLASS.get(name, '?')}) is not readable")
            return
        if name == "portfolio":
            items = {_pk(i["id"])[1] for i in value.get("items") or []}
            released = access.portfolio_items or frozenset()
            if extra := sorted(items - released):
                self.leak(pk, access, f"portfolio shows items {extra} of a visibility not released")
        elif name == "school" and "id" in value and _pk(value["id"])[1] != row["school_id"]:
            self.leak(pk, access, "school is not the student's school")
        elif name == "guardians":
            linked = self.facts.guardians[pk]
            if extra := sorted({_pk(g["id"])[1] for g in value} - linked):
                self.leak(pk, access, f"guardians {extra} are not linked to the student")
        elif name == "readiness":
            if extra := sorted({_pk(r["id"])[1] for r in value} - self.facts.readiness[pk]):
                self.leak(pk, access, f"readiness {extra} is another student's")
        else:
            expected = expected_value(row, name)
            if expected is not None and value != expected:
                self.leak(pk, access, f"{name} is {value!r}, stored {expected!r}")

    def roster(self, klass: dict[str, Any]) -> None:
        """A class's students reveal each one's enrollment in it: academic information."""
        _, class_pk = _pk(klass["id"])
        for edge in klass["students"].get("edges") or []:
            if not edge.get("node"):
                continue
            _, pk = _pk(edge["node"]["id"])
            if not self.may_know_enrollment(pk, class_pk):
                access = self.oracle.access(pk)
                self.leak(pk, access, f"listed in the roster of Class {class_pk}")

    def may_know_enrollment(self, pk: int, class_pk: int) -> bool:
        access = self.oracle.access(pk)
        active = {c for c, on in self.facts.enrollments[pk] if on}
        if class_pk not in active:
            return False
        if access.classes is not None and class_pk in access.classes:
            return True
        # A classmate is exactly a student of a class the viewer attends (unless opted out).
        return access.visible and "classmate" in access.relations and class_pk in self.my_classes

    @property
    def my_classes(self) -> set[int]:
        mine = [s for s, r in self.oracle.relations.items() if "self" in r]
        return {c for s in mine for c, on in self.facts.enrollments[s] if on}

    def narrowing(self, connection: dict[str, Any], args: dict[str, Any]) -> None:
        """A filter or a value order must not narrow by a value the account may not read."""
        flt = args.get("filter") or {}
        order = args["orderBy"].value
        edges = [e for e in connection.get("edges") or [] if e.get("node")]
        more = (connection.get("pageInfo") or {}).get("hasNextPage", True)
        for edge in edges:
            _, pk = _pk(edge["node"]["id"])
            access = self.oracle.access(pk)
            row = self.facts.students[pk]
            for key, value in flt.items():
                if not self._may_filter(pk, row, access, key, value):
                    self.leak(pk, access, f"returned by filter {key}={value!r}")
            needs = {"GRADE_LEVEL": "gradeLevel", "DATE_OF_BIRTH": "dateOfBirth"}.get(order)
            if needs and (len(edges) > 1 or more) and needs not in access.fields:
                self.leak(pk, access, f"placed by orderBy {order} ({needs} not readable)")

    def _may_filter(
        self, pk: int, row: asyncpg.Record, access: StudentAccess, key: str, value: Any
    ) -> bool:
        fields = access.fields
        if key == "classId":
            return self.may_know_enrollment(pk, _pk(value)[1])
        if key == "schoolId":
            return "school" in fields
        if key == "nameStartsWith":
            prefix = value.lower()
            return any(
                name in fields and (row[column] or "").lower().startswith(prefix)
                for name, column in (
                    ("firstName", "first_name"),
                    ("lastName", "last_name"),
                    ("preferredName", "preferred_name"),
                )
            )
        return {"gradeLevel": "gradeLevel", "gender": "gender", "ethnicity": "ethnicity"}[
            key
        ] in fields


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
async def pools(db: asyncpg.Connection) -> Pools:
    """A spread of ids around the demo accounts, the same on every run of the same seed."""
    ids = lambda rows: [r[0] for r in rows]  # noqa: E731
    student_pks = ids(
        await db.fetch(
            """
            (SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id
             WHERE u.username = 'student')
            UNION
            (SELECT gl.student_id FROM guardian_link gl JOIN app_user u
             ON u.id = gl.guardian_user_id WHERE u.username = 'guardian')
            UNION  -- classmates of `student`, some opted out
            (SELECT e2.student_id FROM student s JOIN app_user u ON u.id = s.user_id
             JOIN enrollment e1 ON e1.student_id = s.id
             JOIN enrollment e2 ON e2.class_id = e1.class_id
             WHERE u.username = 'student' ORDER BY e2.student_id LIMIT 4)
            UNION (SELECT id FROM student WHERE directory_opt_out ORDER BY id LIMIT 2)
            UNION (SELECT DISTINCT ON (school_id) id FROM student ORDER BY school_id, id)
            UNION (SELECT id FROM student WHERE date_of_birth + interval '18 years'
                   <= CURRENT_DATE ORDER BY id LIMIT 1)
            """
        )
    )
    class_pks = ids(
        await db.fetch(
            """
            (SELECT ta.class_id FROM teaching_assignment ta JOIN app_user u
             ON u.id = ta.staff_user_id WHERE u.username = 'teacher')
            UNION
            (SELECT e.class_id FROM enrollment e JOIN student s ON s.id = e.student_id
             JOIN app_user u ON u.id = s.user_id WHERE u.username = 'student')
            UNION (SELECT DISTINCT ON (school_id) id FROM class_section ORDER BY school_id, id)
            """
        )
    )
    missing = 10_000_000
    return Pools(
        students=[_gid("Student", pk) for pk in [*sorted(student_pks), missing]],
        classes=[_gid("Class", pk) for pk in [*sorted(class_pks), missing]],
        schools=[_gid("School", pk) for pk in ids(await db.fetch("SELECT id FROM school"))],
        genders=ids(await db.fetch("SELECT DISTINCT gender FROM student ORDER BY 1")),
        ethnicities=ids(await db.fetch("SELECT DISTINCT ethnicity FROM student ORDER BY 1")),
    )


async def _mutate(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    payload: dict[str, Any] = next(iter(body["data"].values()))
    assert not payload["userErrors"], payload
    return payload


GRANT = """
mutation($input: GrantLegitimateInterestInput!) {
  grantLegitimateInterest(input: $input) { grant { id active } userErrors { code message } }
}"""
REVOKE = """
mutation($input: RevokeLegitimateInterestInput!) {
  revokeLegitimateInterest(input: $input) { grant { id active } userErrors { code message } }
}"""


@pytest.fixture
async def account(
    request: pytest.FixtureRequest,
    db: asyncpg.Connection,
    client: httpx.AsyncClient,
    token_for: Callable[[str], Awaitable[str]],
) -> AsyncIterator[tuple[str, str | None, Oracle]]:
    """`(username, token, oracle)`; a grant named in the parameter is made by the coordinator
    through the API first and revoked afterwards (other tests share the database)."""
    name: str = request.param
    username, _, grant = name.partition("+")
    grant_id = None
    if grant:
        if grant == "class grant":
            # A class of `teacher` that `student` attends: grant and teacher overlap.
            scope, target = (
                "CLASS",
                await db.fetchval(
                    """
                SELECT e.class_id FROM enrollment e JOIN student s ON s.id = e.student_id
                JOIN app_user su ON su.id = s.user_id AND su.username = 'student'
                JOIN teaching_assignment ta ON ta.class_id = e.class_id
                JOIN app_user tu ON tu.id = ta.staff_user_id AND tu.username = 'teacher'
                WHERE e.begins_on <= CURRENT_DATE
                  AND (e.ends_on IS NULL OR e.ends_on >= CURRENT_DATE)
                ORDER BY e.class_id LIMIT 1
                """
                ),
            )
            target_id = _gid("Class", target)
        else:
            scope = "STUDENT"
            target = await db.fetchval(
                "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id"
                " WHERE u.username = 'student'"
            )
            target_id = _gid("Student", target)
        grantee = await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
        now = datetime.datetime.now(datetime.UTC)
        payload = await _mutate(
            client,
            await token_for("coordinator"),
            GRANT,
            {
                "input": {
                    "granteeId": _gid("StaffMember", grantee),
                    "scope": scope,
                    "targetId": target_id,
                    "purpose": "property test: college counselling review",
                    "expiresAt": (now + datetime.timedelta(days=30)).isoformat(),
                }
            },
        )
        grant_id = payload["grant"]["id"]
        assert payload["grant"]["active"]
    try:
        token = None if username == "anonymous" else await token_for(username)
        user_id = await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
        oracle = await Oracle.load(db, user_id or 0, await Facts.load(db))
        yield name, token, oracle
    finally:
        if grant_id is not None:
            payload = await _mutate(
                client, await token_for("coordinator"), REVOKE, {"input": {"id": grant_id}}
            )
            assert not payload["grant"]["active"]


# Per account: examples run, Student objects checked, errors met (printed at the end of the run).
TALLY: dict[str, Counter[str]] = defaultdict(Counter)


@pytest.fixture(scope="module", autouse=True)
def report_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the examples per account after the run, past pytest's output capture."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not TALLY:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for name, tally in TALLY.items():
            figures = ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
            reporter.write_line(f"property access as {name}: {figures}")
        total = sum(t["examples"] for t in TALLY.values())
        checked = sum(t["Student objects checked"] for t in TALLY.values())
        reporter.write_line(f"property access: {total} examples, {checked} Student objects checked")


# --- the property ---------------------------------------------------------------------------------


@pytest.mark.parametrize("account", ACCOUNTS, indirect=True)
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # A failure is shrunk to a minimal query; the explain phase would only add minutes.
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    # The fixtures (an HTTP client, a database connection, the oracle) hold no per-example
    # state; examples are slow because each is a real request, not because generation is.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=QUERIES)
@example(case=EVERYTHING[0])
@example(case=EVERYTHING[1])
@example(case=EVERYTHING[2])
async def test_every_student_value_is_one_the_policy_allows(
    case: Case,
    account: tuple[str, str | None, Oracle],
    client: httpx.AsyncClient,
    pools: Pools,
) -> None:
    name, token, oracle = account
    root = case.root
    document, args = case.document(pools)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": document}, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    checker = Checker(oracle)
    checker.walk(body.get("data"))
    if root == "students" and body.get("data"):
        checker.narrowing(body["data"]["students"], args)
    tally = TALLY[name]
    tally["examples"] += 1
    tally["answers with students"] += checker.students_seen > 0
    tally["Student objects checked"] += checker.students_seen
    for error in body.get("errors") or []:
        tally[f"errors {error.get('extensions', {}).get('code', '?')}"] += 1
    assert not checker.leaks, f"as {name}: {document}\n" + "\n".join(checker.leaks[:20])


async def test_the_oracle_reads_the_demo_district_as_spec_12_describes(
    db: asyncpg.Connection,
) -> None:
    """The oracle itself, on the relations SPEC §12 promises: if it saw none of them, the
    property above would hold vacuously."""
    facts = await Facts.load(db)

    async def oracle(username: str) -> Oracle:
        user_id = await db.fetchval("SELECT id FROM app_user WHERE username = $1", username)
        return await Oracle.load(db, user_id, facts)

    me = await db.fetchval(
        "SELECT s.id FROM student s JOIN app_user u ON u.id = s.user_id"
        " WHERE u.username = 'student'"
    )
    student, guardian, teacher = (
        await oracle("student"),
        await oracle("guardian"),
        await oracle("teacher"),
    )
    assert student.access(me).fields >= {"email", "dateOfBirth", "disclosures", "portfolio"}
    assert guardian.access(me).relations == {"guardian_of"}
    assert len([s for s, r in guardian.relations.items() if "guardian_of" in r]) == 2

    taught = teacher.access(me)
    assert "teacher_of" in taught.relations
    assert "email" in taught.fields and "dateOfBirth" not in taught.fields
    assert "readiness" not in taught.fields and "disclosures" not in taught.fields
    assert taught.classes and taught.classes <= teacher.own_classes
    released = {
        v for i, v in facts.items[me] if taught.portfolio_items and i in taught.portfolio_items
    }
    assert released <= {"TEACHERS", "COORDINATOR"}

    mates = {s: student.access(s) for s, r in student.relations.items() if "classmate" in r}
    assert mates, "the demo student has classmates"
    for pk, access in mates.items():
        expected = (
            set() if facts.students[pk]["directory_opt_out"] else {"firstName", "displayName"}
        )
        assert access.fields == expected

    coordinator = (await oracle("coordinator")).access(me)
    assert coordinator.relations == {"school_official"}
    assert "lastName" in coordinator.fields and "email" not in coordinator.fields
    assert coordinator.classes is None and coordinator.portfolio_items is None
    admin = (await oracle("admin")).access(me)
    assert "portfolio" not in admin.fields and "disclosures" in admin.fields

    other_district = await db.fetchval(
        "SELECT min(id) FROM student WHERE district_id <> $1", facts.students[me]["district_id"]
    )
    for name in ("admin", "reporter", "support"):
        assert not (await oracle(name)).access(other_district).visible
    assert not (await oracle("reporter")).relations and not (await oracle("support")).relations
