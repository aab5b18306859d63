"""Suppression (pure): which cells of a complete table to withhold.

A table is every cell of a report: detail cells, the marginal subtotals and the grand total,
keyed by one value per dimension with `TOTAL` where the cell sums over it. Each subtotal is the
sum of its *line* (the cells that vary it along one dimension), and that holds for everything a
cell publishes or lets be worked out: its students, a rate's numerator, its complement. Whatever
the line rule protects for one of them, it protects for all, because a cell is withheld whole.

```python
hidden = suppress(counts, 10, primary={("A", 9)})  # A9's numerator is small
```
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from itertools import islice, product
from typing import Any


class Suppression(enum.StrEnum):
    """Why a cell is withheld."""

    # The cell tells something about fewer students than the district's minimum: its own
    # students, a rate's numerator or complement, an average of equal values (which one is not
    # said: that would tell it).
    BELOW_MINIMUM = "BELOW_MINIMUM"
    COMPLEMENTARY = "COMPLEMENTARY"  # hidden so that another hidden cell cannot be recovered


class _Total:
    """The marker of a rolled-up dimension in a cell key: `(TOTAL, 9)` is "all schools, grade 9"."""

    def __repr__(self) -> str:
        return "TOTAL"


TOTAL = _Total()
Key = tuple[Any, ...]


def suppress(
    counts: Mapping[Key, int],
    minimum: int,
    *,
    primary: Collection[Key] = (),
    loose: Collection[int] = (),
) -> dict[Key, Suppression]:
    """The cells to withhold, given each cell's student count.

    1. Primary: a cell (totals included) with fewer than `minimum` students, and every cell of
       `primary` (those that disclose a few students otherwise, see `app.reports.disclosure`).
    2. Complementary: a line with exactly one hidden cell would give it away by subtraction, so
       the smallest published cell of that line is hidden too (the subtotal itself when nothing
       else is left). Repeated until every line hides none or at least two.
    3. Boxes: two per line is not always enough (two blocks of hidden cells joined by one row
       give the joining cells away by adding and subtracting lines). Every hidden cell must be a
       corner of a *box* of hidden cells: one other value per dimension (`TOTAL` counts as a
       value) spanning 2, 4, 8 or 16 cells, all hidden. Then no combination of the lines
       determines it (see `_Table.box`). A hidden cell without one gets the box that hides the
       fewest students more, and step 2 runs again.

    Along a `loose` axis a subtotal is not the sum of its line (a student in several classes,
    weeks or indicators is counted once): step 2 still treats it as one, but a box may stay at
    the cell's own value along it, as the line gives no equation to solve.

    >>> counts = {("a", 1): 3, ("a", 2): 20, ("a", TOTAL): 23,
    ...           ("b", 1): 30, ("b", 2): 40, ("b", TOTAL): 70,
    ...           (TOTAL, 1): 33, (TOTAL, 2): 60, (TOTAL, TOTAL): 93}
    >>> sorted(suppress(counts, 10).items(), key=str)  # doctest: +NORMALIZE_WHITESPACE
    [(('a', 1), <Suppression.BELOW_MINIMUM: 'BELOW_MINIMUM'>),
     (('a', 2), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>),
     (('b', 1), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>),
     (('b', 2), <Suppression.COMPLEMENTARY: 'COMPLEMENTARY'>)]
    """
    table = _Table(counts, loose)
    reason: dict[int, Suppression] = {
        i: Suppression.BELOW_MINIMUM
        for i, key in enumerate(table.keys)
        if table.size[i] < minimum or key in primary
    }
    hidden_in = table.hidden_in(reason)
    pending = [line for line, n in enumerate(hidden_in) if n == 1]
    table.complete_lines(reason, hidden_in, pending)
    checked: set[int] = set()
    while unchecked := sorted(set(reason) - checked):
        for cell in unchecked:
            if cell in checked:
                continue
            box = table.box(cell, reason)
            if box is None:
                box = table.cheapest_box(cell, reason)
                for corner in box:
                    if corner not in reason:
                        table.hide(corner, reason, hidden_in, pending)
                table.complete_lines(reason, hidden_in, pending)
            checked.update(box, (cell,))
    return {table.keys[i]: why for i, why in reason.items()}


class _Table:
    """Cells and lines by number: line `l` has the subtotal `totals[l]` and `members[l]`."""

    def __init__(self, counts: Mapping[Key, int], loose: Collection[int] = ()) -> None:
        self.loose = loose
        self.keys = list(counts)
        self.size = [counts[key] for key in self.keys]
        self.index = index = {key: i for i, key in enumerate(self.keys)}

        # (axis the members vary along, subtotal) -> line
        self.line_at: dict[tuple[int, int], int] = {}
        self.totals: list[int] = []
        self.members: list[list[int]] = []
        self.lines_of: list[list[int]] = [[] for _ in self.keys]
        for i, key in enumerate(self.keys):
            for axis, value in enumerate(key):
                if value is TOTAL:
                    continue
                total = index.get((*key[:axis], TOTAL, *key[axis + 1 :]))
                if total is None:  # nothing published to subtract from
                    continue
                line = self.line_at.get((axis, total))
                if line is None:
                    line = self.line_at[axis, total] = len(self.totals)
                    self.totals.append(total)
                    self.members.append([])
                    self.lines_of[total].append(line)
                self.members[line].append(i)
                self.lines_of[i].append(line)

    def hidden_in(self, reason: Mapping[int, Suppression]) -> list[int]:
        """How many cells each line hides; `hide` keeps it (and `hidden_of`) up to date."""
        self.hidden_of: list[list[int]] = [
            [i for i in (*cells, self.totals[line]) if i in reason]
            for line, cells in enumerate(self.members)
        ]
        return [len(cells) for cells in self.hidden_of]

    def hide(
        self, cell: int, reason: dict[int, Suppression], hidden_in: list[int], pending: list[int]
    ) -> None:
        reason[cell] = Suppression.COMPLEMENTARY
        for other in self.lines_of[cell]:
            self.hidden_of[other].append(cell)
            hidden_in[other] += 1
            if hidden_in[other] == 1:
                pending.append(other)

    def complete_lines(
        self, reason: dict[int, Suppression], hidden_in: list[int], pending: list[int]
    ) -> None:
        """Step 2: until no line hides exactly one cell."""
        while pending:
            line = pending.pop()
            if hidden_in[line] != 1:
                continue
            published = [i for i in self.members[line] if i not in reason]
            # The smallest (ties: the first) published member, or the subtotal when none is left.
            pick = (
                min(published, key=lambda i: (self.size[i], i)) if published else self.totals[line]
            )
            self.hide(pick, reason, hidden_in, pending)

    def cheapest_neighbour(self, cell: int, reason: Mapping[int, Suppression]) -> int:
        """The smallest published cell sharing a line with `cell` (members before subtotals)."""
        candidates = [
            (i == self.totals[line], self.size[i], i)
            for line in self.lines_of[cell]
            for i in (*self.members[line], self.totals[line])
            if i not in reason
        ]
        if not candidates:  # its lines are all hidden: the smallest published cell anywhere
            candidates = [(False, n, i) for i, n in enumerate(self.size) if i not in reason]
        return min(candidates)[2]

    def _corners(
        self,
        cell: int,
        partners: tuple[Any, ...],
        within: Mapping[int, Suppression] | None = None,
    ) -> list[int] | None:
        """The cells of the box spanned by `cell` and one other value per axis (or its own, along
        a loose axis); None when one of them is absent (an absent cell is a known zero, it
        cannot be withheld) or, given `within`, not in it."""
        # Grown one axis at a time, so that a missing corner is found early.
        corners = [cell]
        for axis, partner in enumerate(partners):
            if partner is self.keys[cell][axis]:
                continue  # flat along this (loose) axis
            grown = []
            for corner in corners:
                other = self.index.get(_swap(self.keys[corner], axis, partner))
                if other is None or (within is not None and other not in within):
                    return None
                grown.append(other)
            corners += grown
        return corners

    def _neighbours(self, cell: int, axis: int, *, hidden: bool = False) -> list[int]:
        """The other cells (or the other hidden ones) of the line through `cell` along `axis`,
        its subtotal included."""
        key = self.keys[cell]
        total = cell if key[axis] is TOTAL else self.index.get(_swap(key, axis, TOTAL))
        line = self.line_at.get((axis, total)) if total is not None else None
        if line is None:
            return []
        cells = self.hidden_of[line] if hidden else (*self.members[line], self.totals[line])
        return [c for c in cells if c != cell]

    def box(self, cell: int, reason: Mapping[int, Suppression]) -> list[int] | None:
        """A box of hidden cells around a hidden `cell`, if there is one.

        Give +1 and -1 alternately to the corners of a box (a `TOTAL` corner takes the sign of
        the member it sums): every line through the box then sums to zero, so adding it to any
        solution of the lines gives another that the published cells cannot tell apart. No
        corner is determined, whatever else is published.
        """
        if not self.keys[cell]:
            return []  # the grand total of a report without dimensions: no line to solve
        key = self.keys[cell]

        def hidden_values(axis: int, few: int | None) -> list[Any]:
            own = [key[axis]] if axis in self.loose else []
            others = (self.keys[c][axis] for c in self._neighbours(cell, axis, hidden=True))
            return own + list(islice(others, few))

        # A box is usually among the first few hidden neighbours: those first, then all.
        for few in (_FEW, None):
            hidden = [hidden_values(axis, few) for axis in range(len(key))]
            for partners in product(*hidden):
                corners = self._corners(cell, partners, reason)
                if corners is not None:
                    return corners
            if few is not None and all(len(values) < few for values in hidden):
                break
        return None

    def cheapest_box(self, cell: int, reason: Mapping[int, Suppression]) -> list[int]:
        """A box around `cell` that withholds few students more: the boxes spanned by the
        cheapest few neighbours along each axis (a hidden one costs nothing), the cheapest of
        them; every box when none of those is complete."""
        key = self.keys[cell]
        ranked = [
            sorted(
                [*([cell] if axis in self.loose else []), *self._neighbours(cell, axis)],
                key=lambda c: (0 if c in reason else self.size[c], c),
            )
            for axis in range(len(key))
        ]
        for few in (_FEW, None):
            best: tuple[int, list[int], list[int]] | None = None
            for partners in product(
                *([self.keys[c][a] for c in r[:few]] for a, r in enumerate(ranked))
            ):
                corners = self._corners(cell, partners)
                if corners is None:
                    continue
                cost = sum(self.size[c] for c in corners if c not in reason)
                if best is None or (cost, sorted(corners)) < best[:2]:
                    best = (cost, sorted(corners), corners)
            if best is not None:
                return best[2]
        return list(range(len(self.keys)))  # no complete box: nothing of this table is safe


# Neighbours tried first along each axis when completing a box: enough to find a cheap box.
_FEW = 4


def _swap(key: Key, axis: int, value: Any) -> Key:
    return (*key[:axis], value, *key[axis + 1 :])
