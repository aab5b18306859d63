"""`Student.guardians` in a compiled answer: the rows `Loaders.guardians` returns (the same FROM,
links in force and order: `schema.loaders`), as one JSON sub-select over the student row `s`.

The field is decided like the resolver's (`student.render`: allowed, or withheld and redacted);
a Guardian's own fields are not decided. Email and phone are `app_user`'s encrypted columns.
"""

from __future__ import annotations

from typing import Any

from app.encryption import Keyring
from schema.compiled.base import Fallback, blob
from schema.compiled.shape import Selected
from schema.context import Context, StudentRef
from schema.loaders import GUARDIANS_FROM, GUARDIANS_IN_FORCE, GUARDIANS_ORDER
from schema.relay import to_global_id

# Each guardian's array: the user's id, the link's id, then these fields' columns.
_COLUMNS = {
    "firstName": "u.first_name",
    "lastName": "u.last_name",
    "relationship": "gl.relationship",
    "legalGuardian": "gl.legal_guardian",
    "email": "u.email",
    "phone": "u.phone",
}
_POSITION = {name: i for i, name in enumerate(_COLUMNS, start=2)}
_SECRET = {"email", "phone"}
_NULLABLE = {"email", "phone"}

SQL = (
    "(SELECT coalesce(json_agg(json_build_array(u.id, gl.id, "  # noqa: S608 (names only)
    + ", ".join(_COLUMNS.values())
    + f") ORDER BY {GUARDIANS_ORDER}), '[]'::json)"
    f" FROM {GUARDIANS_FROM} WHERE gl.student_id = s.id AND {GUARDIANS_IN_FORCE})"
)


def render(
    context: Context,
    selected: Selected,
    value: list[list[Any]],
    ref: StudentRef,
    ring: Keyring | None,
    path: list[str | int],
) -> list[dict[str, Any]]:
    """The guardians `selected` asks for (the field was allowed)."""
    listed = []
    for row in value:
        guardian: dict[str, Any] = {}
        for key, field in selected.children.items():
            name = field.name
            if name == "__typename":
                guardian[key] = "Guardian"
            elif name == "id":
                guardian[key] = to_global_id("Guardian", row[0])
            elif name == "linkId":
                guardian[key] = to_global_id("GuardianLink", row[1])
            else:
                found = row[_POSITION[name]]
                if name in _SECRET:
                    if ring is None:
                        raise Fallback("no keyring")
                    found = ring.decrypt("app_user", name, row[0], blob(found))
                if found is None and name not in _NULLABLE:
                    raise Fallback("null in a non-null field")  # graphql-core's error to report
                guardian[key] = found
        listed.append(guardian)
    return listed
