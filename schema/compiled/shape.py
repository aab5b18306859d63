"""The operation's selection tree: fragments inlined, aliases kept, `@include`/`@skip` evaluated
with the request's variables. `None` when anything selected is outside `coverage.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)

from schema.compiled.coverage import ABSTRACT, ARGUMENTS, CONDITIONS, FIELDS


@dataclass
class Selected:
    """One response key: the field it names, its arguments (unresolved) and what it selects.

    A field of an abstract type (`ABSTRACT`) selects nothing itself: `variants` holds, per
    object type it compiles as, the field as that type (the value's type picks one when the
    request runs)."""

    key: str
    name: str
    type_name: str | None
    arguments: dict[str, ValueNode] = field(default_factory=dict)
    children: dict[str, Selected] = field(default_factory=dict)
    # The document's nodes of this key, in document order: where an error about it is located.
    nodes: list[FieldNode] = field(default_factory=list)
    # The response keys from the root field to this one: one field of the document each.
    path: tuple[str, ...] = ()
    variants: dict[str, Selected] = field(default_factory=dict)

    @property
    def place(self) -> str:
        """The field's place in the document (`list.edges.node.classes`): names the column of
        a field whose SQL depends on its own selection."""
        return ".".join(self.path)


class NotCovered(Exception):
    """Something in the operation the compiler does not answer."""


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def directive_variables(operation: OperationDefinitionNode, document: DocumentNode) -> list[str]:
    """The variables `@include`/`@skip` read anywhere in the document (part of the plan's key)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value in ("include", "skip"):
                for argument in directive.arguments:
                    if isinstance(argument.value, VariableNode):
                        found.append(argument.value.name.value)
        selections = getattr(node, "selection_set", None)
        for child in selections.selections if selections else ():
            walk(child)

    walk(operation)
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            walk(definition)
    return sorted(set(found))


def shape(
    document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]
) -> dict[str, Selected] | None:
    """The root selections of a query the compiler covers, else None."""
    if operation.operation is not OperationType.QUERY:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    try:
        roots = _collect(operation.selection_set, "Query", fragments, variables)
    except NotCovered:
        return None
    return roots


def _collect(
    selection_set: SelectionSetNode,
    type_name: str,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    into: dict[str, Selected] | None = None,
    path: tuple[str, ...] = (),
    others: frozenset[str] = frozenset(),
) -> dict[str, Selected]:
    """The fields `selection_set` selects on `type_name` at `path`. `others`: the other object
    types of the abstract type being collected as `type_name`, whose fragments do not apply."""
    found: dict[str, Selected] = {} if into is None else into
    for selection in selection_set.selections:
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            _add_field(selection, type_name, fragments, variables, found, path)
            continue
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            name = None if condition is None else condition.name.value
            inner = selection.selection_set
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            name, inner = fragment.type_condition.name.value, fragment.selection_set
        else:
            continue
        if name is not None and name not in CONDITIONS[type_name]:
            if name in others:
                continue
            raise NotCovered(name)
        _collect(inner, type_name, fragments, variables, found, path, others)
    return found


def _add_field(
    node: FieldNode,
    type_name: str,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    found: dict[str, Selected],
    parent: tuple[str, ...],
) -> None:
    name = node.name.value
    key = node.alias.value if node.alias else name
    path = (*parent, key)
    if name == "__typename":
        found.setdefault(key, Selected(key, name, None, path=path)).nodes.append(node)
        return
    fields = FIELDS[type_name]
    if name not in fields:
        raise NotCovered(f"{type_name}.{name}")
    arguments = {a.name.value: a.value for a in node.arguments or ()}
    if set(arguments) - ARGUMENTS.get(f"{type_name}.{name}", frozenset()):
        raise NotCovered(f"{type_name}.{name} arguments")
    target = fields[name]
    selected = found.get(key)
    if selected is None:
        selected = found[key] = Selected(key, name, target, arguments, path=path)
    selected.nodes.append(node)
    if target is None:
        return
    if node.selection_set is None:
        raise NotCovered(name)
    for kind in ABSTRACT.get(target, ()):
        variant = selected.variants.get(kind)
        if variant is None:
            variant = selected.variants[kind] = Selected(key, name, kind, arguments, path=path)
        others = frozenset(ABSTRACT[target]) - {kind}
        _collect(node.selection_set, kind, fragments, variables, variant.children, path, others)
    if target not in ABSTRACT:
        _collect(node.selection_set, target, fragments, variables, selected.children, path)


def _included(selection: Any, variables: dict[str, Any]) -> bool:
    for directive in selection.directives or ():
        name = directive.name.value
        if name not in ("include", "skip"):
            raise NotCovered(f"@{name}")
        if len(directive.arguments or ()) != 1:
            raise NotCovered(f"@{name}")
        value = directive.arguments[0].value
        if isinstance(value, VariableNode):
            flag = variables.get(value.name.value)
        elif isinstance(value, BooleanValueNode):
            flag = value.value
        else:
            raise NotCovered("directive argument")
        if not isinstance(flag, bool):
            raise NotCovered("directive argument")
        if (name == "include") != flag:
            return False
    return True
