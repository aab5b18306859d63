"""Keyset pagination: a list's ORDER BY and the condition "after this sort key", in SQL.

The key is the sort values of the last row of the previous page, bound as parameters (a cursor
carries it). The condition never looks a row up by an id, so it cannot tell anything about a row
the caller may not see, and a page is right even when the row it follows has since gone.

    NAME = Keyset(Column("s.last_name", "last_name"), Column("s.id", "id"))
    params: dict[str, Any] = {}
    where = NAME.after(("Ng", 41), params)   # "(s.last_name, s.id) > (:after_0, :after_1)"
    sql = f"SELECT ... WHERE {where} ORDER BY {NAME.order_by} LIMIT 50"

A nullable column sorts its NULLs last, in either direction. PostgreSQL's row comparison is NULL
as soon as it compares a NULL, which would end the walk at the first NULL; so a nullable column
is compared by itself, with explicit `IS NULL` branches, and only the columns that cannot be NULL
go into a row comparison (which an index can serve).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    sql: str  # the expression in the statement, e.g. `s.last_name`
    attribute: str  # the attribute of a fetched row that holds its value
    nullable: bool = False


class Keyset:
    """A total order over a list's rows: its last column must be unique (the id)."""

    def __init__(self, *columns: Column, descending: bool = False) -> None:
        self.columns = columns
        self.descending = descending
        direction = " DESC" if descending else ""
        self.order_by = ", ".join(
            c.sql + direction + (" NULLS LAST" if c.nullable else "") for c in columns
        )

    def key(self, row: Any) -> tuple[Any, ...]:
        """The sort values of a fetched row, to resume after it."""
        return tuple(getattr(row, c.attribute) for c in self.columns)

    def after(self, key: tuple[Any, ...], params: dict[str, Any], prefix: str = "after") -> str:
        """The condition for the rows after `key`; binds its values into `params`, as
        `<prefix>_0`, `<prefix>_1`, ... (one statement with several positions names each its
        own)."""
        if len(key) != len(self.columns):
            raise ValueError(f"a key of {len(self.columns)} values expected, not {len(key)}")
        names = []
        for i, value in enumerate(key):
            names.append(f":{prefix}_{i}")
            if value is not None:
                params[f"{prefix}_{i}"] = value
        return self._after(list(zip(self.columns, names, key, strict=True)))

    def _after(self, parts: list[tuple[Column, str, Any]]) -> str:
        beyond = "<" if self.descending else ">"
        split = next((i for i, (c, _, _) in enumerate(parts) if c.nullable), len(parts))
        head, rest = parts[:split], parts[split:]
        if head:
            columns = ", ".join(c.sql for c, _, _ in head)
            values = ", ".join(name for _, name, _ in head)
            if not rest:
                return f"({columns}) {beyond} ({values})"
            tail = self._nullable(rest)
            return f"(({columns}) {beyond} ({values}) OR (({columns}) = ({values}) AND {tail}))"
        return self._nullable(rest)

    def _nullable(self, parts: list[tuple[Column, str, Any]]) -> str:
        """After the key, from a nullable first column on (NULLs sort last)."""
        (column, name, value), rest = parts[0], parts[1:]
        beyond = "<" if self.descending else ">"
        if value is None:
            # Only the other NULLs can follow, in the order of the next columns.
            return f"({column.sql} IS NULL AND {self._after(rest)})" if rest else "false"
        condition = f"{column.sql} {beyond} {name} OR {column.sql} IS NULL"
        if rest:
            condition += f" OR ({column.sql} = {name} AND {self._after(rest)})"
        return f"({condition})"
