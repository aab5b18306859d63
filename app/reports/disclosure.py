"""What a cell would tell about a few students, metric by metric: the primary suppression rule.

A cell is published only when everything it lets a reader work out rests on at least the
district's minimum number of students (`min_cell_size`):

- every metric: the cell's students (`studentCount`);
- a rate (`READINESS_RATE`): also its numerator, the students who met it (the rate times the
  students), and its complement, those who did not. A rate of 1 of 18, or of 0 or 1, tells
  something about one student or about every student of the cell;
- an average (`AVERAGE_MARK`): also that the values differ. When every mark of the cell is
  equal, the average is each student's mark.

The counts and per-week metrics publish a sum over the cell's students, each of whom contributes
at least one event: the cell's students are the only count to check.

```python
assert discloses(METRICS["READINESS_RATE"], students=18, measure=1, spread=None, minimum=10)
```
"""

from __future__ import annotations

from typing import Any

from app.reports.catalogue import Metric


def discloses(metric: Metric, *, students: int, measure: Any, spread: Any, minimum: int) -> bool:
    """Whether publishing the cell would tell something about fewer than `minimum` students."""
    if students < minimum:
        return True
    if metric.kind == "rate":
        met = int(measure)
        return met < minimum or students - met < minimum
    if metric.kind == "average":
        return spread is None or spread == 0
    return False
