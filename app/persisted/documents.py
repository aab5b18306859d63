"""A client's documents, read from the files its build produces, and checked against the schema.

Accepted: Apollo's persisted-query manifest (`@apollo/generate-persisted-query-manifest`:
`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id", "body"}]}`),
Relay's map (`{"<sha256>": "<text>"}`, relay-compiler with `persistConfig.algorithm: SHA256`),
and `.graphql` files (each file one document, its text as it is).

Every document is kept as written, and also as graphql-core prints it: clients that send a
printed document (gql, which prints before sending) then match too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, OperationDefinitionNode, parse, print_ast, validate

from app.persisted.store import sha256_hex

APOLLO_FORMAT = "apollo-persisted-query-manifest"


class DocumentProblem(Exception):
    """One line saying which document, in which file, is refused and why."""


@dataclass(frozen=True)
class Document:
    sha256: str
    text: str
    operation_names: str
    source: str


def read_file(path: Path) -> list[tuple[str | None, str, str]]:
    """(claimed hash or None, text, where) for each document in the file."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix in (".graphql", ".gql"):
        return [(None, raw, str(path))]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DocumentProblem(f"{path}: not JSON ({exc}) and not a .graphql file") from None
    if isinstance(data, dict) and data.get("format") == APOLLO_FORMAT:
        if data.get("version") != 1:
            raise DocumentProblem(f"{path}: Apollo manifest version {data.get('version')!r}")
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise DocumentProblem(f"{path}: an Apollo manifest needs an `operations` list")
        found: list[tuple[str | None, str, str]] = []
        for index, item in enumerate(operations):
            if not isinstance(item, dict) or not isinstance(item.get("body"), str):
                raise DocumentProblem(f"{path}: operations[{index}] has no `body` text")
            claimed = item.get("id")
            where = f"{path}: operations[{index}] ({item.get('name') or 'anonymous'})"
            found.append((claimed if isinstance(claimed, str) else "", item["body"], where))
        return found
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return [(key, value, f"{path}: {key}") for key, value in data.items()]
    raise DocumentProblem(
        f"{path}: neither an Apollo persisted-query manifest nor a Relay map of hash to text"
    )


def check(schema: GraphQLSchema, claimed: str | None, text: str, where: str) -> list[Document]:
    """The document (and its printed form, when that differs), or a DocumentProblem."""
    actual = sha256_hex(text)
    if claimed is not None and claimed.lower() != actual:
        raise DocumentProblem(
            f"{where}: its id is not the SHA-256 of its text (use SHA-256 ids: Apollo's default,"
            " Relay's persistConfig.algorithm SHA256)"
        )
    try:
        tree = parse(text)
    except GraphQLError as exc:
        raise DocumentProblem(f"{where}: {exc.message}") from None
    errors = validate(schema, tree)
    if errors:
        raise DocumentProblem(f"{where}: {errors[0].message}")
    names = ",".join(
        d.name.value if d.name else "(anonymous)"
        for d in tree.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    documents = [Document(actual, text, names, where)]
    printed = print_ast(tree)
    if printed != text:
        documents.append(Document(sha256_hex(printed), printed, names, where))
    return documents


def read_all(schema: GraphQLSchema, paths: list[Path]) -> tuple[list[Document], list[str]]:
    """Every valid document of the files, and a line per refused one."""
    documents: list[Document] = []
    problems: list[str] = []
    for path in paths:
        try:
            found = read_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        except DocumentProblem as exc:
            problems.append(str(exc))
            continue
        for claimed, text, where in found:
            try:
                documents.extend(check(schema, claimed, text, where))
            except DocumentProblem as exc:
                problems.append(str(exc))
    return documents, problems
