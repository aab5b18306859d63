"""De-identified reports (SPEC §8): aggregates over students, grouped, suppressed and audited.

A report is a *metric* (what is measured) broken down by up to four *dimensions* over a *filter*
(which students, which dates). One module per job:

- `catalogue`: the metrics and dimensions, the fixed pieces every report's SQL is made from;
- `definitions`: `ReportSpec` and `ReportFilter`, their validation and JSON form;
- `scope`: who may run reports, over which schools;
- `statement`: the one statement computing every cell, subtotal and the grand total
  (`GROUP BY GROUPING SETS` over every subset of the dimensions);
- `disclosure`: the cells that would tell something about a few students (a small cell, a rate's
  small numerator or complement, an average of equal values);
- `suppression`: those cells withheld, and enough others that none can be solved for;
- `compute`: running it all into labelled cells;
- `audit` and `saved`: the record of runs, and saved views.

```python
spec = ReportSpec("STUDENT_COUNT", ("SCHOOL", "GRADE_LEVEL"))
spec.validate()
report = await run(connection=connection, spec=spec, scope=report_scope(viewer))
```
"""

from app.reports.audit import audit_run, run_audited
from app.reports.catalogue import (
    CATEGORIES,
    DIMENSIONS,
    INDICATOR_LABELS,
    INDICATORS,
    METRICS,
    READINESS_MIN_GRADE,
)
from app.reports.compute import (
    DEFAULT_MIN_CELL_SIZE,
    REPORT_WORK_MEM,
    Cell,
    Coordinate,
    Report,
    prepare,
    run,
)
from app.reports.definitions import (
    DEFAULT_WINDOW_DAYS,
    MAX_CELLS,
    MAX_DIMENSIONS,
    MAX_FILTER_VALUES,
    MAX_WINDOW_DAYS,
    InvalidReport,
    ReportFilter,
    ReportSpec,
    school_year_end,
)
from app.reports.saved import (
    MAX_NAME_LENGTH,
    SAVED_ORDER,
    count_saved_reports,
    delete_report,
    save_report,
    saved_report,
    saved_reports,
    spec_of,
)
from app.reports.scope import REPORT_ROLES, report_scope, schools_outside
from app.reports.statement import Statement, build_statement
from app.reports.suppression import TOTAL, Key, Suppression, suppress

__all__ = [
    "CATEGORIES",
    "DEFAULT_MIN_CELL_SIZE",
    "DEFAULT_WINDOW_DAYS",
    "DIMENSIONS",
    "INDICATORS",
    "INDICATOR_LABELS",
    "MAX_CELLS",
    "MAX_DIMENSIONS",
    "MAX_FILTER_VALUES",
    "MAX_NAME_LENGTH",
    "MAX_WINDOW_DAYS",
    "METRICS",
    "READINESS_MIN_GRADE",
    "REPORT_ROLES",
    "REPORT_WORK_MEM",
    "SAVED_ORDER",
    "TOTAL",
    "Cell",
    "Coordinate",
    "InvalidReport",
    "Key",
    "Report",
    "ReportFilter",
    "ReportSpec",
    "Statement",
    "Suppression",
    "audit_run",
    "build_statement",
    "count_saved_reports",
    "delete_report",
    "prepare",
    "report_scope",
    "run",
    "run_audited",
    "save_report",
    "saved_report",
    "saved_reports",
    "school_year_end",
    "schools_outside",
    "spec_of",
    "suppress",
]
