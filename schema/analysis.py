"""Query analysis: depth, aliases, size and cost of a document, before graphql-core validates it.

Every measure is the one of the document with its fragments written out, yet each fragment is
measured once and its summary reused wherever it is spread, so the analysis takes time linear in
the document. (Ten spreads of the next fragment in each of eight fragments write out to 10^7
fields; Strawberry's depth and alias limiters walked every one of them, for 49 s at 8 levels.)

It runs before graphql-core's rules because some of them cost more than linear time too: the
rule that fields sharing a response name can be merged compares them pair by pair (500 x `student
{ id }` under one field took 0.75 s), and fragment cycles would send a naive walk round forever.

    measure = analyse(schema, parse(query), limits, variables={"n": 20})
    measure.cost  # rows the operation may touch (schema.cost)

A refused document raises `QueryRefused`, a GraphQL error whose `extensions.code` says why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
    value_from_ast_untyped,
)
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from app.config import Settings
from schema import cost

# Fields (and inline fragments) nested deeper than this are refused whatever the depth limit: no
# legitimate query comes near it, and it keeps the walk far from Python's recursion limit.
MAX_NESTING = 64
# At most this many fields may share a response name in one selection set (fragments written
# out): graphql-core compares such fields pair by pair.
MAX_REPEATS = 20


class QueryRefused(GraphQLError):
    """A document the server will not run, with the reason in `extensions.code`."""

    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    # Fragments may shorten a document, not enlarge it: written out, it may hold no more fields
    # than a document of the token limit could (each field takes a token at least).
    max_fields: int
    max_cost: int
    page_cap: int
    max_repeats: int = MAX_REPEATS

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_fields=settings.max_tokens,
            max_cost=settings.max_cost,
            page_cap=settings.max_page_size,
        )


@dataclass
class Measure:
    """A selection set, fragment or document with its fragments written out."""

    height: int = 0  # levels of fields below the selection set's own
    aliases: int = 0
    fields: int = 0
    cost: int = 0
    # Fields of the selection set itself (not below), by response name.
    names: Counter[str] = field(default_factory=Counter)

    def add(self, other: Measure) -> None:
        self.height = max(self.height, other.height)
        self.aliases += other.aliases
        self.fields += other.fields
        self.cost += other.cost
        self.names.update(other.names)


@dataclass
class _Tally:
    """Fragment bodies measured since the process started (tests check: each one once)."""

    fragments: int = 0


FRAGMENTS_MEASURED = _Tally()


def analyse(
    schema: GraphQLSchema,
    document: DocumentNode,
    limits: Limits,
    *,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> Measure:
    """Measure the document's operations; raises `QueryRefused` when one exceeds a limit.

    Depth is checked per operation, aliases and fields over the whole document (as Strawberry's
    limiters did); cost for the operation that runs (the costliest when it is not named).
    """
    return _Analysis(schema, document, limits, variables or {}, operation_name).run()


class _Analysis:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        limits: Limits,
        variables: Mapping[str, Any],
        operation_name: str | None,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        self.operations: list[OperationDefinitionNode] = []
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                if name in self.fragments:
                    # graphql-core refuses it too, but only after its own rules walked both.
                    raise QueryRefused(
                        f"There can be only one fragment named '{name}'.",
                        "GRAPHQL_VALIDATION_FAILED",
                    )
                self.fragments[name] = definition
            elif isinstance(definition, OperationDefinitionNode):
                self.operations.append(definition)
        named = [o for o in self.operations if o.name and o.name.value == operation_name]
        self.costed = named or self.operations
        # Variables resolve `first`: the request's values, else the costed operations' defaults.
        self.variables: dict[str, Any] = {}
        for operation in reversed(self.costed):
            for variable in operation.variable_definitions or ():
                if variable.default_value is not None:
                    name = variable.variable.name.value
                    self.variables[name] = value_from_ast_untyped(variable.default_value)
        self.variables.update(variables)
        self.measured: dict[str, Measure] = {}
        # Fields counted and names merged so far: a document within the limits needs at most
        # MAX_NESTING x max_fields of them, so past that it cannot be within them.
        self.work = 0

    def run(self) -> Measure:
        order = self._fragment_order()
        if unused := sorted(set(self.fragments) - set(order)):
            # Every selection set of the document goes through graphql-core's rules, used or not
            # (one of them compares same-named fields pair by pair): a fragment no operation
            # spreads is refused here, as the GraphQL spec's rule would, before they run.
            raise QueryRefused(
                f"Fragment '{unused[0]}' is never used.", "GRAPHQL_VALIDATION_FAILED"
            )
        for name in order:
            fragment = self.fragments[name]
            FRAGMENTS_MEASURED.fragments += 1
            self.measured[name] = self._measure(
                fragment.selection_set.selections,
                self.schema.get_type(fragment.type_condition.name.value),
                nesting=1,
            )
        total = Measure()
        costs = [0]
        for operation in self.operations:
            measure = self._measure(
                operation.selection_set.selections,
                self.schema.get_root_type(operation.operation),
                nesting=1,
            )
            self._check_repeats(measure.names)
            if measure.height > self.limits.max_depth:
                name = operation.name.value if operation.name else "anonymous"
                raise QueryRefused(
                    f"'{name}' exceeds maximum operation depth of {self.limits.max_depth}",
                    "QUERY_TOO_DEEP",
                    depth=measure.height,
                    limit=self.limits.max_depth,
                )
            if any(operation is costed for costed in self.costed):
                costs.append(measure.cost)
            total.add(measure)
        if total.aliases > self.limits.max_aliases:
            raise QueryRefused(
                f"{total.aliases} aliases found. Allowed: {self.limits.max_aliases}",
                "TOO_MANY_ALIASES",
                aliases=total.aliases,
                limit=self.limits.max_aliases,
            )
        self._check_size(total.fields)
        total.cost = max(costs)
        if total.cost > self.limits.max_cost:
            raise QueryRefused(
                f"The query may touch {total.cost:,} rows, more than the limit of "
                f"{self.limits.max_cost:,}: ask for smaller pages or fewer nested lists.",
                "QUERY_TOO_COSTLY",
                cost=total.cost,
                limit=self.limits.max_cost,
            )
        return total

    # --- fragments --------------------------------------------------------------------------

    def _fragment_order(self) -> list[str]:
        """The fragments the operations use, each after those it spreads; refuses a cycle.

        Iterative (a chain of a few hundred fragments must not exhaust the stack).
        """
        spreads: dict[str, list[str]] = {}
        order: list[str] = []
        done: set[str] = set()
        for operation in self.operations:
            for root in _spread_names(operation.selection_set.selections):
                if root in done or root not in self.fragments:
                    continue
                path = [root]
                stack: list[Iterator[str]] = [iter(self._spreads(root, spreads))]
                while stack:
                    name = next(stack[-1], None)
                    if name is None:
                        stack.pop()
                        done.add(path[-1])
                        order.append(path.pop())
                    elif name in path:
                        cycle = " → ".join([*path[path.index(name) :], name])
                        raise QueryRefused(
                            f"Cannot spread fragment '{name}' within itself ({cycle}).",
                            "FRAGMENT_CYCLE",
                        )
                    elif name not in done and name in self.fragments:
                        path.append(name)
                        stack.append(iter(self._spreads(name, spreads)))
        return order

    def _spreads(self, name: str, known: dict[str, list[str]]) -> list[str]:
        if name not in known:
            known[name] = list(_spread_names(self.fragments[name].selection_set.selections))
        return known[name]

    # --- selection sets ---------------------------------------------------------------------

    def _measure(
        self, selections: Sequence[SelectionNode], parent: GraphQLNamedType | None, *, nesting: int
    ) -> Measure:
        if nesting > MAX_NESTING:
            raise QueryRefused(
                f"The query nests selections more than {MAX_NESTING} levels deep.",
                "QUERY_TOO_DEEP",
                limit=self.limits.max_depth,
            )
        measure = Measure()
        for selection in selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent, measure, nesting)
            elif isinstance(selection, FragmentSpreadNode):
                # Measured before (fragments come in order); unknown ones graphql-core reports.
                spread = self.measured.get(selection.name.value)
                if spread is not None:
                    self._merge(measure, spread)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                within = self.schema.get_type(condition.name.value) if condition else parent
                inner = self._measure(selection.selection_set.selections, within, nesting=nesting)
                self._merge(measure, inner)
        return measure

    def _field(
        self, node: FieldNode, parent: GraphQLNamedType | None, measure: Measure, nesting: int
    ) -> None:
        name = node.name.value
        measure.fields += 1
        measure.aliases += node.alias is not None
        measure.names[node.alias.value if node.alias else name] += 1
        self.work += 1
        if node.selection_set is None:
            return
        definition = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        returns = get_named_type(definition.type) if definition else None
        inner = self._measure(node.selection_set.selections, returns, nesting=nesting + 1)
        self._check_repeats(inner.names)
        measure.aliases += inner.aliases
        measure.fields += inner.fields
        self._check_size(measure.fields)
        # Introspection is answered from memory and, as with Strawberry's limiter, not deep.
        if name.startswith("__") or definition is None or parent is None:
            return
        measure.height = max(measure.height, 1 + inner.height)
        page = None
        if "first" in definition.args:
            page = self._page(node, definition.args["first"].default_value)
        times = cost.multiplier(
            parent.name,
            name,
            returns.name if returns else "",
            page=page,
            page_cap=self.limits.page_cap,
            is_list=is_list_type(get_nullable_type(definition.type)),
        )
        row = int(
            returns is not None
            and is_composite_type(returns)
            and not cost.holds_no_row(returns.name)
        )
        measure.cost += times * (row + inner.cost)

    def _page(self, node: FieldNode, default: Any) -> int:
        """The field's `first`: as written, from a variable, else the argument's default."""
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value == "first":
                if isinstance(argument.value, IntValueNode):
                    value = int(argument.value.value)
                elif isinstance(argument.value, VariableNode):
                    value = self.variables.get(argument.value.name.value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        # Not an integer: the request fails coercion later; meanwhile count the default.
        return (
            default if isinstance(default, int) and default is not Undefined else cost.DEFAULT_PAGE
        )

    def _merge(self, measure: Measure, other: Measure) -> None:
        self.work += len(other.names)
        if self.work > MAX_NESTING * self.limits.max_fields:
            self._check_size(self.work)
        measure.add(other)
        self._check_size(measure.fields)

    def _check_size(self, fields: int) -> None:
        if fields > self.limits.max_fields:
            raise QueryRefused(
                f"The query selects more than {self.limits.max_fields:,} fields with its "
                "fragments written out.",
                "QUERY_TOO_LARGE",
                limit=self.limits.max_fields,
            )

    def _check_repeats(self, names: Counter[str]) -> None:
        limit = self.limits.max_repeats
        if names and (repeated := max(names.values())) > limit:
            name = next(n for n, count in names.items() if count == repeated)
            raise QueryRefused(
                f"'{name}' is selected {repeated:,} times in one selection set (fragments "
                f"written out); at most {limit} fields may share a name.",
                "QUERY_TOO_LARGE",
                limit=limit,
            )


def _spread_names(selections: Sequence[SelectionNode]) -> Iterator[str]:
    """The fragments spread anywhere in these selections (not through other fragments)."""
    stack = [selections]
    while stack:
        for selection in stack.pop():
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif selection.selection_set is not None:  # type: ignore[attr-defined]
                stack.append(selection.selection_set.selections)  # type: ignore[attr-defined]


# graphql-core's validation of a document, cached per (schema, document, rules) as Strawberry's
# ValidationCache does: the rules are the same classes for every request, so repeats hit.
_validate_cached = lru_cache(maxsize=256)(validate_document)


class QueryAnalysis(SchemaExtension):
    """Analyse the document (`analyse`) and refuse it before graphql-core's validation runs;
    validate it otherwise, through the cache unless `cache` is off (production: an anonymous
    caller's refusal of introspection must not be cached for everyone)."""

    def __init__(self, limits: Limits, *, cache: bool) -> None:
        super().__init__()
        self.limits = limits
        self.cache = cache

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema._schema
        document = context.graphql_document
        if document is None:  # not parsed: nothing to validate
            yield
            return
        variables = context.variables if isinstance(context.variables, dict) else None
        try:
            analyse(
                schema,
                document,
                self.limits,
                variables=variables,
                operation_name=context.operation_name,
            )
        except QueryRefused as refusal:
            # Set, so that Strawberry does not run graphql-core's rules on it after this hook.
            context.pre_execution_errors = [refusal]
        else:
            if self.cache:
                rules = context.validation_rules
                context.pre_execution_errors = _validate_cached(schema, document, rules)
        yield
