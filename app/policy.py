"""The Casbin policy, compiled into a decision table.

Casbin is the single source of truth: `policies/model.conf` and `policies/*.csv` say which role,
related to a student by which relation, may read or write which object. Asking Casbin per row and
per field would cost more than the rest of a request, so the files are compiled once (at start and
on every reload) into one integer mask per object: bit *i* is set when the i-th (role, relation)
pair is allowed. A request then decides a field for a row with one AND of the row's relation mask
(computed by `app.relations`) and the field's mask.

Usage:

```python
policy = load_policy()                   # reads policies/, calls Casbin for every pair and object
allowed = policy.mask("Student.email")   # no Casbin call
if row_mask & allowed: ...
```
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import casbin
from casbin.persist.adapter import Adapter, load_policy_line

from app.config import PROJECT_ROOT
from app.models import Role

POLICY_DIR = PROJECT_ROOT / "policies"

RELATIONS = (
    "self",
    "guardian_of",
    "teacher_of",
    "classmate",
    "school_official",
    "legitimate_interest",
)
ROLES = tuple(r.value for r in Role)
PAIRS: tuple[tuple[str, str], ...] = tuple(itertools.product(ROLES, RELATIONS))
_BIT = {pair: 1 << i for i, pair in enumerate(PAIRS)}

FIELD_CLASSES = ("directory", "contact", "demographic", "academic", "portfolio", "disclosures")
ITEM_VISIBILITIES = ("PRIVATE", "TEACHERS", "COORDINATOR")
# Objects only a mutation asks about (act `write`).
WRITE_OBJECTS = (
    "PortfolioItem",
    "PortfolioItem.delete",
    "Mark",
    "Consent",
    "DirectoryOptOut",
    "DataRequest",
    "DataRequest.resolve",
    "Contact",
    "LegitimateInterestGrant",
    "RoleAssignment",
    "DistrictSettings",
    # the district's records (app/admin/records)
    "Student",
    "Class",
    "Class.visibility",
    "Enrollment",
    "TeachingAssignment",
    "GuardianLink",
    "PasswordReset",
    "Session.revoke",
    "UserAccount.unlock",
    "UserAccount.resetTotp",
)
# Objects read as a whole, not as fields of a student (act `read`).
READ_OBJECTS = ("DataExport.download", "Session")
# Written for the district as a whole (by a role held district-wide), never for one student.
DISTRICT_OBJECTS = ("DistrictSettings",)
# Written for a class, not for one student (a class's teacher relates to the class itself).
CLASS_OBJECTS = ("Class", "Class.visibility", "TeachingAssignment")
# Written for a user account (their sign-in sessions), never for one student.
ACCOUNT_OBJECTS = ("Session.revoke",)


def bit(role: str, relation: str) -> int:
    """The mask bit of one (role, relation) pair."""
    return _BIT[(role, relation)]


def pairs_of(mask: int) -> Iterator[tuple[str, str]]:
    """The (role, relation) pairs set in a mask, in declaration order."""
    for pair, value in _BIT.items():
        if mask & value:
            yield pair


class _DirectoryAdapter(Adapter):  # type: ignore[misc]
    """Loads every `*.csv` of a policy directory, in name order (`fields.csv`, `policy.csv`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load_policy(self, model: Any) -> None:
        for path in sorted(self.directory.glob("*.csv")):
            for line in path.read_text().splitlines():
                stripped = line.strip()
                if stripped and not stripped.startswith("#"):
                    load_policy_line(stripped, model)


@dataclass
class CasbinCounter:
    """Counts calls into Casbin; benchmarks and tests read it."""

    calls: int = 0


CASBIN_CALLS = CasbinCounter()


@dataclass(frozen=True)
class CompiledPolicy:
    """The decision table: one allow-mask per object and act."""

    read: dict[str, int]
    write: dict[str, int]
    lines: tuple[tuple[str, ...], ...] = field(repr=False)
    groupings: dict[str, str] = field(repr=False)

    def mask(self, obj: str) -> int:
        """Pairs allowed to read `obj` (a field like `Student.email` or a class)."""
        return self.read.get(obj, 0)

    def write_mask(self, obj: str) -> int:
        return self.write.get(obj, 0)

    def field_class(self, obj: str) -> str | None:
        """`Student.email` → `contact`."""
        group = self.groupings.get(obj)
        if group is None:
            if obj not in self.groupings.values():
                return None
            group = obj
        return group.split(".", 1)[1].split("@", 1)[0]

    def student_fields(self) -> list[str]:
        """The Student fields the policy governs (`firstName`, `email`, ...), in file order."""
        fields = [
            child.split(".", 1)[1]
            for child in self.groupings
            if child.startswith("Student.") and "@" not in child
        ]
        return [*fields, "portfolio"]

    def matching_line(self, role: str, relation: str, obj: str, act: str) -> str | None:
        """The policy line that allows this request, for `explainAccess`."""
        targets = {obj, self.groupings.get(obj)}
        for line in self.lines:
            if line[0] == role and line[1] == relation and line[2] in targets and line[3] == act:
                return "p, " + ", ".join(line)
        return None


def new_enforcer(directory: Path = POLICY_DIR) -> casbin.Enforcer:
    return casbin.Enforcer(str(directory / "model.conf"), _DirectoryAdapter(directory))


def _objects(groupings: dict[str, str], lines: Iterable[tuple[str, ...]]) -> set[str]:
    objects = set(groupings) | set(groupings.values())
    objects.update(line[2] for line in lines)
    return objects


def compile_policy(enforcer: casbin.Enforcer) -> CompiledPolicy:
    lines = tuple(tuple(rule) for rule in enforcer.get_policy())
    groupings = {child: parent for child, parent in enforcer.get_named_grouping_policy("g2")}
    read: dict[str, int] = {}
    write: dict[str, int] = {}
    for obj in sorted(_objects(groupings, lines)):
        # Writable types are only written and fields only read (`policy check` enforces it).
        act, table = ("write", write) if obj in WRITE_OBJECTS else ("read", read)
        mask = 0
        for role, relation in PAIRS:
            CASBIN_CALLS.calls += 1
            if enforcer.enforce(role, relation, obj, act):
                mask |= _BIT[(role, relation)]
        if mask:
            table[obj] = mask
    # A field or class is readable where any of its parts is (the portfolio field shows the items
    # released by their visibility).
    for child, parent in groupings.items():
        read[parent] = read.get(parent, 0) | read.get(child, 0)
    return CompiledPolicy(read=read, write=write, lines=lines, groupings=groupings)


def load_policy(directory: Path = POLICY_DIR) -> CompiledPolicy:
    return compile_policy(new_enforcer(directory))


# --- `schoolgraph policy check` and `policy matrix` -----------------------------------------


def check(directory: Path = POLICY_DIR) -> list[str]:
    """Problems in the policy files, each naming file and line; empty when they are valid."""
    problems: list[str] = []
    known_objects: set[str] = {*WRITE_OBJECTS, *READ_OBJECTS}
    seen: set[tuple[str, ...]] = set()
    rows: list[tuple[Path, int, list[str]]] = []
    for path in sorted(directory.glob("*.csv")):
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.reader(handle, skipinitialspace=True), start=1):
                if not row or row[0].lstrip().startswith("#"):
                    continue
                cells = [cell.strip() for cell in row]
                rows.append((path, number, cells))
                if cells[0] == "g2" and len(cells) == 3:
                    known_objects.update(cells[1:])
    for path, number, cells in rows:
        where = f"{path.name}:{number}"
        kind = cells[0]
        if kind == "g2":
            if len(cells) != 3:
                problems.append(f"{where}: a g2 line has a field and a class")
            elif not cells[2].startswith(cells[1].split(".", 1)[0].split("@")[0]) and not (
                cells[1].startswith("PortfolioItem.") and cells[2] == "Student.portfolio"
            ):
                problems.append(f"{where}: {cells[1]} is grouped under another type's class")
            continue
        if kind != "p":
            problems.append(f"{where}: unknown line type {kind!r}")
            continue
        if len(cells) != 5:
            problems.append(f"{where}: a p line has role, relation, object, act")
            continue
        _, role, relation, obj, act = cells
        if role not in ROLES:
            problems.append(f"{where}: unknown role {role!r}")
        if relation not in RELATIONS:
            problems.append(f"{where}: unknown relation {relation!r}")
        if act not in ("read", "write"):
            problems.append(f"{where}: act must be read or write, not {act!r}")
        if obj not in known_objects:
            problems.append(f"{where}: unknown object {obj!r}")
        elif (act == "write") != (obj in WRITE_OBJECTS):
            problems.append(f"{where}: {obj} can only be {'written' if act == 'read' else 'read'}")
        key = tuple(cells)
        if key in seen:
            problems.append(f"{where}: duplicate of an earlier line")
        seen.add(key)
    if not problems:
        try:
            new_enforcer(directory)
        except Exception as exc:  # Casbin raises assorted types for a broken model
            problems.append(f"model.conf: {exc}")
    return problems


# The rows of the SPEC §5 table: a label and the (role, relation) pairs it stands for.
MATRIX_ROWS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("self", (("student", "self"),)),
    ("guardian_of", (("guardian", "guardian_of"),)),
    ("teacher_of", (("teacher", "teacher_of"),)),
    ("classmate", (("student", "classmate"),)),
    ("school_official (coordinator)", (("coordinator", "school_official"),)),
    ("school_official (designee)", (("designee", "school_official"),)),
    ("other staff (teacher, not teacher_of)", (("teacher", "school_official"),)),
    ("legitimate_interest (coordinator)", (("coordinator", "legitimate_interest"),)),
    ("legitimate_interest (designee)", (("designee", "legitimate_interest"),)),
    ("school_admin", (("school_admin", "school_official"),)),
    ("district_admin", (("district_admin", "school_official"),)),
    ("reporting", (("reporting", "school_official"),)),
    ("support (no grant)", (("support", "school_official"),)),
)


def describe_cell(policy: CompiledPolicy, pairs: tuple[tuple[str, str], ...], cls: str) -> str:
    """What one cell of the §5 table says, computed from the compiled policy."""
    mask = 0
    for pair in pairs:
        mask |= _BIT[pair]
    if cls == "portfolio":
        items = [v for v in ITEM_VISIBILITIES if policy.mask(f"PortfolioItem.{v}") & mask]
        if len(items) == len(ITEM_VISIBILITIES):
            return "all items"
        return " and ".join(f"`{v}`" for v in items) + " items" if items else "no"
    if policy.mask(f"Student.{cls}") & mask and all(
        policy.mask(child) & mask
        for child, parent in policy.groupings.items()
        if parent == f"Student.{cls}"
    ):
        return "yes"
    if cls == "academic" and policy.mask("Student.marks@own_classes") & mask:
        return "marks of own classes only"
    fields = [
        child.split(".", 1)[1]
        for child, parent in policy.groupings.items()
        if parent == f"Student.{cls}" and policy.mask(child) & mask
    ]
    return " and ".join(f"`{f}`" for f in fields) + " only" if fields else "no"


def matrix(policy: CompiledPolicy) -> list[list[str]]:
    """The SPEC §5 table as rows of strings, header first."""
    table = [["relation of viewer to student", *FIELD_CLASSES]]
    for label, pairs in MATRIX_ROWS:
        table.append([label, *(describe_cell(policy, pairs, cls) for cls in FIELD_CLASSES)])
    return table
