"""What a cell would tell about a few students, metric by metric: the primary suppression rule.

A cell is published only when everything it lets a reader work out rests on at least the
district's minimum number of students (`min_cell_size`):

- every metric: the cell's students (`studentCount`);
- a rate (`READINESS_RATE`): also its numerator, the students who met it (the rate times the
  students), and its complement, those who did not. A rate of 1 of 18, or of 0 or 1, tells
  something about one student or about every student of the cell;
- an average (`AVERAGE_MARK`): also that the values differ. When every mark of the cell is
  equal, the average is each student's mark.

- a count of some of the cell's students (`ACTIVE_STUDENTS`): also the students of the cell who
  were not active. `STUDENT_COUNT` with the same grouping publishes the cell's students, so 25
  active students would tell that one of 26 was not.

- a sum of events (`LOGINS_PER_WEEK`, `PORTFOLIO_ACTIVITY_PER_WEEK`, `PORTFOLIO_ITEMS`): also
  that the students' counts differ. When every student of the cell has the same number of
  events (12 logins by 12 students), the value tells each one's.

```python
assert discloses(METRICS["READINESS_RATE"], students=18, measure=1, spread=None, minimum=10)
assert discloses(METRICS["ACTIVE_STUDENTS"], students=30, measure=25, spread=None, minimum=10)
```
"""

from __future__ import annotations

from typing import Any

from app.reports.catalogue import Metric


def discloses(metric: Metric, *, students: int, measure: Any, spread: Any, minimum: int) -> bool:
    """Whether publishing the cell would tell something about fewer than `minimum` students.

    `students` are all the cell's students (for `ACTIVE_STUDENTS`, the active and the inactive),
    `measure` and `spread` the cell's columns of the report statement.
    """
    if metric.part:
        part = int(measure)
        return part < minimum or students - part < minimum
    if students < minimum:
        return True
    if metric.kind == "average" and spread is None:
        return True
    return spread is not None and spread == 0
