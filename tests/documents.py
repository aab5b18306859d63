"""Random GraphQL read documents over the whole schema, found by walking it from `Query`.

A drawn `Case` is one request: an account, a document (nested selections to a bounded depth,
arguments, aliases — the same field twice under different aliases with different arguments —
named and inline fragments, variables, `@include`/`@skip`, `__typename`) and its variables.
Nothing here names a field of the product: a field added to the schema is drawn without an edit.

Ids and cursors are not known when Hypothesis draws (its draws happen outside the test's
coroutine, before the database is at hand), so a draw names a slot of a pool (`⟦pool:n⟧` in the
text, `Ref` in the variables) and `Pools.resolve` fills it in when the example runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_leaf_type,
)
from hypothesis import strategies as st

from tests.helpers import DEMO_ACCOUNTS

# The demo accounts of SPEC §12, and no account at all.
ACCOUNTS = [*DEMO_ACCOUNTS, "anonymous"]

# Root fields drawn more often: the shapes frontends send most, which compiled execution answers.
# Only a weight: a name missing from the schema is ignored, every other root is drawn too.
HOT_ROOTS = {"students": 4, "student": 3, "node": 3, "classes": 3, "class": 3, "viewer": 3}

# Fields whose answer is not the data's but the moment's or the record's of earlier requests: the
# compiled request writes to the record before the reference reads it, and the two run at two
# instants, so these differ between any two requests on either path. Left out of every document.
DRIFTING_TYPES = {"Disclosure", "DisclosureConnection", "DisclosureEdge"}
DRIFTING_FIELDS = {"AccessReview.generatedAt", "Report.generatedAt"}

# Pools an argument draws from, by the argument's name; `id` by its field (`ID_POOLS`).
ARGUMENT_POOLS = {
    "studentId": "students",
    "classId": "classes",
    "schoolId": "schools",
    "userId": "users",
    "viewerId": "users",
    "actorId": "users",
    "granteeId": "users",
    "targetId": "any",
    "after": "cursors",
}
ID_POOLS = {"student": "students", "class": "classes"}
POOL_SLOTS = 24

# Strings some arguments expect; anything else gets short text.
STRINGS = {
    "username": ["admin", "teacher", "student", "guardian", "nobody"],
    "fieldClass": ["directory", "contact", "academic", "health", "nope"],
    "nameStartsWith": ["A", "M", "Sa", "z", ""],
    "action": ["grant", "studentUpdate", "nope"],
    "targetType": ["Student", "Grant", "nope"],
}
DATE_TIMES = ["2020-01-01T00:00:00Z", "2026-06-01T12:00:00+00:00", "2999-01-01T00:00:00Z", "x"]
DATES = ["2010-05-01", "2030-01-01"]

# Pages stay small, so an example answers quickly and within the query limits; now and then a
# value the limits or the arguments' checks refuse (both paths must refuse it alike).
FIRSTS = st.one_of(st.integers(0, 6), st.sampled_from([-1, 25, 100_000]))
# Object fields per document: the paths branch at every level.
OBJECT_FIELDS = 10


@dataclass(frozen=True)
class Ref:
    """The `index`-th value of a pool, filled in when the example runs."""

    pool: str
    index: int

    @property
    def token(self) -> str:
        return f"⟦{self.pool}:{self.index}⟧"


@dataclass(frozen=True)
class Enum:
    value: str


@dataclass(frozen=True)
class Case:
    """One request: who sends it, the document (with pool slots), its variables, and the root
    fields it selects (for the run's summary)."""

    account: str
    document: str
    variables: dict[str, Any]
    operation_name: str | None
    roots: tuple[str, ...]


class Pools:
    """Ids and cursors worth sending, by pool; `cursors` per account (a cursor is the viewer's)."""

    def __init__(self, ids: dict[str, list[str]], cursors: dict[str, list[str]]) -> None:
        self.ids, self.cursors = ids, cursors

    def values(self, pool: str, account: str) -> list[str]:
        return self.cursors[account] if pool == "cursors" else self.ids[pool]

    def resolve(self, value: Any, account: str) -> Any:
        if isinstance(value, Ref):
            pool = self.values(value.pool, account)
            return pool[value.index % len(pool)]
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, dict):
            return {k: self.resolve(v, account) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, account) for v in value]
        return value

    def document(self, case: Case) -> str:
        def fill(match: re.Match[str]) -> str:
            return json.dumps(self.resolve(Ref(match[1], int(match[2])), case.account))

        return re.sub(r"⟦(\w+):(\d+)⟧", fill, case.document)

    def __repr__(self) -> str:  # short: Hypothesis prints it with every failing example
        return f"Pools({', '.join(f'{k}: {len(v)}' for k, v in self.ids.items())})"


def _format(value: Any) -> str:
    """A GraphQL literal."""
    if isinstance(value, Ref):
        return value.token
    if isinstance(value, Enum):
        return value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


@dataclass
class _Draft:
    """What one document collects while it is drawn."""

    draw: st.DrawFn
    variables: dict[str, tuple[str, Any]] = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)
    aliases: int = 0
    objects: int = OBJECT_FIELDS

    def variable(self, type_: str, value: Any) -> str:
        name = f"v{len(self.variables)}"
        self.variables[name] = (type_, value)
        return f"${name}"

    def alias(self) -> str:
        self.aliases += 1
        return f"a{self.aliases}"


class DocumentWriter:
    """Random read documents over `schema`, `max_depth` levels deep at most."""

    def __init__(self, schema: GraphQLSchema, max_depth: int) -> None:
        self.schema = schema
        self.max_depth = max_depth
        query = schema.query_type
        assert query is not None
        self.query = query
        roots = [r for r in sorted(query.fields) if self._drawn(query, r)]
        self.roots = [r for r in roots for _ in range(HOT_ROOTS.get(r, 1))]
        student = schema.type_map.get("Student")
        self.student_fields = (
            sorted(student.fields) if isinstance(student, GraphQLObjectType) else []
        )

    @staticmethod
    def _drawn(type_: GraphQLObjectType | GraphQLInterfaceType, name: str) -> bool:
        target = get_named_type(type_.fields[name].type)
        return target.name not in DRIFTING_TYPES and f"{type_.name}.{name}" not in DRIFTING_FIELDS

    def case(self, draw: st.DrawFn) -> Case:
        account = draw(st.sampled_from(ACCOUNTS))
        d = _Draft(draw)
        names = draw(st.lists(st.sampled_from(self.roots), min_size=1, max_size=3))
        parts: list[str] = []
        keys: set[str] = set()
        for name in names:
            parts += self._field(d, self.query, name, 1, keys, in_fragment=False)
        if not parts:
            parts.append("__typename")
        operation_name = draw(st.sampled_from([None, None, "Q"]))
        header = "query"
        if operation_name:
            header += f" {operation_name}"
        if d.variables:
            header += "(" + ", ".join(f"${n}: {t}" for n, (t, _) in d.variables.items()) + ")"
        document = " ".join([f"{header} {{ {' '.join(parts)} }}", *d.fragments])
        variables = {n: v for n, (_, v) in d.variables.items()}
        return Case(account, document, variables, operation_name, tuple(dict.fromkeys(names)))

    # --- selections --------------------------------------------------------------------------

    def _field(
        self,
        d: _Draft,
        parent: GraphQLObjectType | GraphQLInterfaceType,
        name: str,
        depth: int,
        keys: set[str],
        *,
        in_fragment: bool,
    ) -> list[str]:
        """A field of `parent`, with arguments, an alias and a directive as drawn, and now and
        then the same field again under another alias with arguments of its own (a screen
        showing two pages of one list); none when the depth or the budget leaves no room."""
        f = parent.fields[name]
        target = get_named_type(f.type)
        leaf = is_leaf_type(target)
        times = 2 if f.args and d.draw(st.integers(0, 4)) == 4 else 1
        found = []
        for _ in range(times):
            if not leaf:
                if depth + 1 > self.max_depth or d.objects <= 0:
                    break
                d.objects -= 1
            args = self._arguments(d, name, f)
            # Unaliased only where the response key is free; in a fragment a field with
            # arguments gets an alias of its own, so that no two fragments ask one key with two
            # argument sets.
            if name in keys or (in_fragment and args) or d.draw(st.integers(0, 6)) == 6:
                key = d.alias()
                text = f"{key}: {name}"
            else:
                key = name
                text = name
            keys.add(key)
            text += args + self._directive(d)
            if not leaf:
                text += " " + self._selection(d, target, depth + 1, in_fragment=in_fragment)
            found.append(text)
        return found

    def _directive(self, d: _Draft) -> str:
        # Draws shrink towards 0: no directive, no alias, no fragment, no optional argument.
        kind = d.draw(st.integers(0, 11)) - 9
        if kind < 0:
            return ""
        directive = "include" if kind % 2 else "skip"
        value = d.draw(st.booleans())
        condition = d.variable("Boolean!", value) if kind < 2 else _format(value)
        return f" @{directive}(if: {condition})"

    def _selection(
        self, d: _Draft, type_: GraphQLNamedType, depth: int, *, in_fragment: bool
    ) -> str:
        parts: list[str] = []
        keys: set[str] = set()
        if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
            parts.append("__typename")
            if isinstance(type_, GraphQLInterfaceType):
                parts += self._fields(d, type_, depth, keys, in_fragment=True, most=2)
            for possible in self.schema.get_possible_types(type_):
                if possible.name not in DRIFTING_TYPES and d.draw(st.integers(0, 2)) == 2:
                    inner = self._selection(d, possible, depth, in_fragment=True)
                    parts.append(f"... on {possible.name} {inner}")
            return "{ " + " ".join(parts) + " }"
        assert isinstance(type_, GraphQLObjectType), type_
        if d.draw(st.integers(0, 2)) == 2:
            parts.append("__typename")
        parts += self._fields(d, type_, depth, keys, in_fragment=in_fragment, most=4)
        shape = d.draw(st.integers(0, 9))
        if shape == 9:  # a named fragment on the type, spread here
            name = f"F{len(d.fragments)}"
            d.fragments.append("")  # reserve the name: the fragment's own may nest further
            inner = self._selection(d, type_, depth, in_fragment=True)
            d.fragments[int(name[1:])] = f"fragment {name} on {type_.name} {inner}"
            parts.append(f"...{name}")
        elif shape == 8:  # an inline fragment, with or without its type condition
            condition = d.draw(st.sampled_from([f" on {type_.name}", ""]))
            inner = self._selection(d, type_, depth, in_fragment=True)
            parts.append(f"...{condition}{self._directive(d)} {inner}")
        if not parts:
            parts.append("__typename")
        return "{ " + " ".join(parts) + " }"

    def _fields(
        self,
        d: _Draft,
        type_: GraphQLObjectType | GraphQLInterfaceType,
        depth: int,
        keys: set[str],
        *,
        in_fragment: bool,
        most: int,
    ) -> list[str]:
        # Leaves first: the simplest draw (what Hypothesis shrinks towards) is a scalar.
        names = sorted(
            (n for n in type_.fields if self._drawn(type_, n)),
            key=lambda n: (not is_leaf_type(get_named_type(type_.fields[n].type)), n),
        )
        if not names:
            return []
        chosen = d.draw(st.lists(st.sampled_from(names), min_size=1, max_size=most))
        parts = []
        for name in chosen:
            parts += self._field(d, type_, name, depth, keys, in_fragment=in_fragment)
        return parts

    # --- arguments -----------------------------------------------------------------------------

    def _arguments(self, d: _Draft, field_name: str, f: GraphQLField) -> str:
        given = []
        for name, arg in f.args.items():
            required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
            if not required and d.draw(st.integers(0, 2)) != 2:
                continue
            value = self._value(d, field_name, name, arg.type)
            if d.draw(st.integers(0, 3)) == 3:
                given.append(f"{name}: {d.variable(str(arg.type), value)}")
            else:
                given.append(f"{name}: {_format(value)}")
        return "(" + ", ".join(given) + ")" if given else ""

    def _value(self, d: _Draft, field_name: str, name: str, type_: GraphQLInputType) -> Any:
        if isinstance(type_, GraphQLNonNull):
            return self._value(d, field_name, name, type_.of_type)
        if isinstance(type_, GraphQLList):
            size = d.draw(st.integers(0, 2))
            return [self._value(d, field_name, name, type_.of_type) for _ in range(size)]
        if isinstance(type_, GraphQLEnumType):
            return Enum(d.draw(st.sampled_from(sorted(type_.values))))
        if isinstance(type_, GraphQLInputObjectType):
            value = {}
            for key, inner in type_.fields.items():
                if isinstance(inner.type, GraphQLNonNull) or d.draw(st.integers(0, 2)) == 2:
                    value[key] = self._value(d, field_name, key, inner.type)
            return value
        assert isinstance(type_, GraphQLScalarType), type_
        return self._scalar(d, field_name, name, type_.name)

    def _scalar(self, d: _Draft, field_name: str, name: str, scalar: str) -> Any:
        pool = ARGUMENT_POOLS.get(name) or (
            ID_POOLS.get(field_name, "any") if scalar == "ID" else None
        )
        if pool is not None:
            return Ref(pool, d.draw(st.integers(0, POOL_SLOTS - 1)))
        if scalar == "Int":
            return d.draw(FIRSTS if name == "first" else st.integers(-1, 12))
        if scalar == "Boolean":
            return d.draw(st.booleans())
        if scalar == "DateTime":
            return d.draw(st.sampled_from(DATE_TIMES))
        if scalar == "Date":
            return d.draw(st.sampled_from(DATES))
        if scalar == "Float":
            return d.draw(st.integers(0, 10))
        if name == "field" and self.student_fields:
            return d.draw(st.sampled_from([*self.student_fields, "nope"]))
        if name in STRINGS:
            return d.draw(st.sampled_from(STRINGS[name]))
        return d.draw(st.text("abcAZ09 ", max_size=4))
