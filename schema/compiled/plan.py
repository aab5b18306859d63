"""The plan cache: (document, operation, `@include`/`@skip` values) → the analysed shape.

Nothing in a plan depends on the viewer: the decisions are made per row against the viewer's
relation mask when the answer is built (run.py), and the viewer's rows are bound parameters.
A document the compiler does not cover is cached too, as `None`, so it falls back at once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, OperationDefinitionNode

from schema.compiled.shape import Selected, directive_variables, operation_of, shape

_MAX_PLANS = 512


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    roots: dict[str, Selected]


_plans: OrderedDict[tuple[Any, ...], Plan | None] = OrderedDict()
_directives: dict[tuple[str, str | None], list[str]] = {}


def plan_for(
    query: str, document: DocumentNode, operation_name: str | None, variables: dict[str, Any]
) -> Plan | None:
    """The document's plan for these (coerced) variables, or None when it must fall back."""
    digest = hashlib.sha256(query.encode()).hexdigest()
    operation = operation_of(document, operation_name)
    if operation is None:
        return None
    names = _directives.get((digest, operation_name))
    if names is None:
        names = directive_variables(operation, document)
        if len(_directives) >= _MAX_PLANS:
            _directives.clear()
        _directives[(digest, operation_name)] = names
    key = (digest, operation_name, tuple(repr(variables.get(n)) for n in names))
    if key in _plans:
        _plans.move_to_end(key)
        return _plans[key]
    roots = shape(document, operation, variables)
    found = Plan(operation, roots) if roots is not None else None
    _plans[key] = found
    if len(_plans) > _MAX_PLANS:
        _plans.popitem(last=False)
    return found
