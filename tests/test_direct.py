"""Direct resolvers (`schema.direct`): which fields get them, and the rule that makes them safe.

What the directly called fields answer, redact and record is checked where the policy is
(`test_policy.py`, `test_access.py`): those tests run against the schema as it is served.
"""

from __future__ import annotations

import ast
from pathlib import Path

from app.config import PROJECT_ROOT
from schema import create_schema
from schema.direct import INFO_ATTRIBUTES, call_directly

SCHEMA_PACKAGE = PROJECT_ROOT / "schema"


def _info_attributes(path: Path) -> set[tuple[str, int]]:
    """(attribute, line) of every `info.<attribute>` in a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "info"
        ):
            found.add((node.attr, node.lineno))
    return found


def test_schema_code_reads_only_what_both_kinds_of_info_have() -> None:
    used = {
        (f"{path.relative_to(PROJECT_ROOT)}:{line}", attribute)
        for path in SCHEMA_PACKAGE.rglob("*.py")
        for attribute, line in _info_attributes(path)
    }
    assert {attribute for _, attribute in used} <= INFO_ATTRIBUTES, sorted(
        (where, attribute) for where, attribute in used if attribute not in INFO_ATTRIBUTES
    )
    assert ("context" in {a for _, a in used}) and ("path" in {a for _, a in used})


def test_the_check_sees_an_attribute_outside_the_rule(tmp_path: Path) -> None:
    module = tmp_path / "resolver.py"
    module.write_text("def f(self, info):\n    return info.selected_fields\n")
    assert _info_attributes(module) == {("selected_fields", 2)}


def test_synchronous_fields_without_arguments_are_called_directly() -> None:
    direct = set(call_directly(create_schema()))
    assert {"Student.firstName", "Student.email", "Student.dateOfBirth"} <= direct
    # Async resolvers, fields with arguments and plain attributes keep Strawberry's path.
    assert "Student.marks" not in direct  # async
    assert "Student.disclosures" not in direct  # takes `first`
    assert "Query.students" not in direct
    assert "Student.id" not in direct  # an attribute
