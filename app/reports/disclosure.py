"""What a cell would tell about a few students, metric by metric: the primary suppression rule.

A cell is published only when everything it lets a reader work out rests on at least the
district's minimum number of students (`min_cell_size`):

- every metric: the cell's students (`studentCount`);
- a rate (`READINESS_RATE`): also its numerator, the students who met it (the rate times the
  students), and its complement, those who did not. A rate of 1 of 18, or of 0 or 1, tells
  something about one student or about every student of the cell;
- the metrics of events (`ACTIVE_STUDENTS`, `LOGINS_PER_WEEK`, `PORTFOLIO_ACTIVITY_PER_WEEK`,
  `PORTFOLIO_ITEMS`): their `studentCount` is the students with events, a part of the cell's
  students, which `STUDENT_COUNT` with the same grouping publishes. The students without
  events are its complement: 25 active students would tell that one of 26 was not;
- an average (`AVERAGE_MARK`), or a sum of events: also that the students' values differ. When
  every mark of the cell is equal, the average is each student's mark; when every student has
  the same number of events (12 logins by 12 students), the sum tells each one's.

```python
rate = METRICS["READINESS_RATE"]
assert discloses(rate, students=18, measure=1, part=None, spread=None, minimum=10)
active = METRICS["ACTIVE_STUDENTS"]
assert discloses(active, students=30, measure=25, part=25, spread=None, minimum=10)
```
"""

from __future__ import annotations

from typing import Any

from app.reports.catalogue import Metric


def discloses(
    metric: Metric, *, students: int, measure: Any, part: Any, spread: Any, minimum: int
) -> bool:
    """Whether publishing the cell would tell something about fewer than `minimum` students.

    `students` are all the cell's students (for the event metrics, those without events too),
    `measure`, `part` and `spread` the cell's columns of the report statement.
    """
    if metric.kind == "rate":
        met = int(measure)
        return students < minimum or met < minimum or students - met < minimum
    if metric.part:
        counted = int(part)
        return counted < minimum or students - counted < minimum or spread == 0
    if students < minimum:
        return True
    if metric.kind == "average" and spread is None:
        return True
    return spread is not None and spread == 0
