"""Suppression (pure): which cells of a complete table to withhold.

```python
hidden = suppress(counts, minimum=10, primary={("A", 9)})
```
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class Suppression(enum.StrEnum):
    """Why a cell is withheld."""

    BELOW_MINIMUM = "BELOW_MINIMUM"  # fewer students than the district's minimum cell size
    COMPLEMENTARY = "COMPLEMENTARY"  # hidden so that another hidden cell cannot be recovered


class _Total:
    """The marker of a rolled-up dimension in a cell key: `(TOTAL, 9)` is "all schools, grade 9"."""

    def __repr__(self) -> str:
        return "TOTAL"


TOTAL = _Total()
Key = tuple[Any, ...]


def suppress(counts: Mapping[Key, int], minimum: int) -> dict[Key, Suppression]:
    """The cells to withhold, given each cell's student count.

    `counts` holds every cell of a complete table: detail cells, all marginal subtotals and the
    grand total, keyed by one value per dimension with `TOTAL` where the cell sums over it.

    1. Primary: a cell (totals included) with fewer than `minimum` students.
    2. Complementary: a *line* is a subtotal together with the cells that vary it along one
       dimension (a row or a column with its total; with more dimensions, every such line). A
       line with exactly one hidden cell would give it away by subtraction, so the smallest
       published cell of that line is hidden too (the subtotal itself when nothing else is left).
       Repeated until every line hides none or at least two.

    >>> counts = {("a", 1): 3, ("a", 2): 20, ("a", TOTAL): 23,
    ...           ("b", 1): 30, ("b", 2): 40, ("b", TOTAL): 70,
    ...           (TOTAL, 1): 33, (TOTAL, 2): 60, (TOTAL, TOTAL): 93}
    >>> sorted(suppress(counts, 10).items(), key=str)  # doctest: +NORMALIZE_WHITESPACE
    [(('a', 1), <Suppression.BELOW_MINIMUM: 'BELOW_MINIMUM'>),
     (('a', 2), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>),
     (('b', 1), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>),
     (('b', 2), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>)]
    """
    keys = list(counts)
    size = [counts[key] for key in keys]
    index = {key: i for i, key in enumerate(keys)}
    # Cells and lines by number: line `l` has the subtotal `totals[l]` and the cells `members[l]`.
    lines: dict[tuple[int, int], int] = {}  # (axis the members vary along, subtotal) -> line
    totals: list[int] = []
    members: list[list[int]] = []
    lines_of: list[list[int]] = [[] for _ in keys]
    for i, key in enumerate(keys):
        for axis, value in enumerate(key):
            if value is TOTAL:
                continue
            total = index.get((*key[:axis], TOTAL, *key[axis + 1 :]))
            if total is None:  # nothing published to subtract from
                continue
            line = lines.get((axis, total))
            if line is None:
                line = lines[axis, total] = len(totals)
                totals.append(total)
                members.append([])
                lines_of[total].append(line)
            members[line].append(i)
            lines_of[i].append(line)

    reason: dict[int, Suppression] = {
        i: Suppression.BELOW_MINIMUM for i, n in enumerate(size) if n < minimum
    }
    hidden_in = [
        sum(i in reason for i in cells) + (totals[line] in reason)
        for line, cells in enumerate(members)
    ]
    pending = [line for line, n in enumerate(hidden_in) if n == 1]
    while pending:
        line = pending.pop()
        if hidden_in[line] != 1:
            continue
        published = [i for i in members[line] if i not in reason]
        # The smallest (ties: the first) published member, or the subtotal when none is left.
        pick = min(published, key=lambda i: (size[i], i)) if published else totals[line]
        reason[pick] = Suppression.COMPLEMENTARY
        for other in lines_of[pick]:
            hidden_in[other] += 1
            if hidden_in[other] == 1:
                pending.append(other)
    return {keys[i]: why for i, why in reason.items()}
