"""The FORBIDDEN errors of a request's redactions: one per field path pattern, saying what would
grant access where the policy knows, and which rows it covers.

```json
{"message": "Not authorized to read students.edges.*.node.email (contact). A teacher may read ...",
 "path": ["students", "edges", 3, "node", "email"],
 "extensions": {"code": "FORBIDDEN", "fieldClass": "contact", "count": 3,
                "pathPattern": "students.edges.*.node.email", "indexes": [[3, 4], [9, 9]],
                "reason": "...", "grantedBy": [{"role": "student", "relation": "self", ...}]}}
```

The hint depends on the policy and the viewer's roles only, never on a row, so one error can
speak for every row it covers without telling anything about any of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError

from app.guidance import refusal
from schema.context import Context, Redaction


def redaction_errors(context: Context, data: Any) -> list[GraphQLError]:
    """One FORBIDDEN error per path pattern the request redacted, in the order of their first
    withheld value in the response (depth first, rows in list order), each with that value's
    path: the same order however the fields were completed, resolved or compiled."""
    roles = {role for role, _ in context._viewer.roles} if context._viewer else set()
    placed = []
    for pattern, redaction in context.redactions.items():
        first = _first_path(pattern, redaction)
        placed.append((_position(data, first), first, pattern, redaction))
    placed.sort(key=lambda p: p[0])
    found = []
    for _, first, pattern, redaction in placed:
        redaction.path = first
        found.append(_error(context, ".".join(pattern), redaction, roles))
    return found


def _first_path(pattern: tuple[str, ...], redaction: Redaction) -> list[str | int]:
    if not redaction.indexes or not redaction.indexes[0]:
        return redaction.path
    rows = iter(min(redaction.indexes))
    return [next(rows) if part == "*" else part for part in pattern]


def _position(data: Any, path: list[str | int]) -> tuple[int, ...]:
    """Where `path` falls in the response, depth first: response keys by their place in the
    document (the order of `data`'s keys), list positions as they are."""
    found = []
    value = data
    for part in path:
        if isinstance(part, int):
            found.append(part)
            value = value[part] if isinstance(value, list) and part < len(value) else None
        elif isinstance(value, dict) and part in value:
            found.append(list(value).index(part))
            value = value[part]
        else:
            found.append(-1)
            value = None
    return tuple(found)


def _error(context: Context, field: str, redaction: Redaction, roles: set[str]) -> GraphQLError:
    message = f"Not authorized to read {field}"
    if redaction.field_class:
        message += f" ({redaction.field_class})"
    extensions: dict[str, Any] = {
        "code": "FORBIDDEN",
        "fieldClass": redaction.field_class,
        "reason": redaction.reason,
        "pathPattern": field,
        "count": redaction.count,
    }
    if "*" in field:
        extensions["indexes"] = runs(redaction.indexes)
    hint = refusal(context.policy, redaction.obj, roles)
    if hint is not None:
        message += f". {hint[0]}"
        extensions["grantedBy"] = hint[1]
    return GraphQLError(message, path=redaction.path, extensions=extensions)


def runs(indexes: Iterable[tuple[int, ...]]) -> list[list[int]]:
    """The list positions of withheld values as runs along the last position: `[[0, 2], [5, 5]]`
    is rows 0, 1, 2 and 5 of a pattern with one `*`; `[[1, 0, 3]]` rows 0 to 3 of the second
    list of a pattern with two. A page of 10,000 rows all withheld is one run."""
    found: list[list[int]] = []
    for position in sorted(set(indexes)):
        *outer, last = position
        if found and found[-1][:-2] == outer and found[-1][-1] == last - 1:
            found[-1][-1] = last
        else:
            found.append([*outer, last, last])
    return found
