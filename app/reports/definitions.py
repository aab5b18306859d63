"""A report's definition: the metric, the dimensions and the filter, validated and kept as JSON.

```python
spec = ReportSpec("STUDENT_COUNT", ("SCHOOL", "GRADE_LEVEL"))
spec.validate()  # InvalidReport names the first problem
assert ReportSpec.from_json(spec.to_json()) == spec
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from app.reports.catalogue import CATEGORIES, DIMENSIONS, INDICATORS, METRICS, Metric

MAX_DIMENSIONS = 4  # 2^4 = 16 grouping sets
MAX_CELLS = 50_000  # beyond that the caller should filter, not page
MAX_FILTER_VALUES = 1000
MAX_WINDOW_DAYS = 366
DEFAULT_WINDOW_DAYS = 28  # event metrics without from/to: the four weeks ending today


class InvalidReport(ValueError):
    """A report definition that cannot be run; the message is safe to show to the caller."""

    def __init__(self, message: str, field: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.field = list(field)


@dataclass(frozen=True)
class ReportFilter:
    """Which students and dates a report covers; an empty tuple means "any"."""

    school_ids: tuple[int, ...] = ()
    grade_levels: tuple[int, ...] = ()
    graduation_years: tuple[int, ...] = ()
    genders: tuple[str, ...] = ()
    ethnicities: tuple[str, ...] = ()
    class_ids: tuple[int, ...] = ()
    term_ids: tuple[int, ...] = ()
    indicators: tuple[str, ...] = ()
    readiness_categories: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None


# JSON names of the filter's fields (as in GraphQL), for saved reports and the audit record.
_FILTER_JSON = {
    "school_ids": "schoolIds",
    "grade_levels": "gradeLevels",
    "graduation_years": "graduationYears",
    "genders": "genders",
    "ethnicities": "ethnicities",
    "class_ids": "classIds",
    "term_ids": "termIds",
    "indicators": "indicators",
    "readiness_categories": "readinessCategories",
}
_INT_FILTERS = ("school_ids", "grade_levels", "graduation_years", "class_ids", "term_ids")


@dataclass(frozen=True)
class ReportSpec:
    """What to compute: a metric, the dimensions to group by (in order) and a filter."""

    metric: str
    group_by: tuple[str, ...] = ()
    filter: ReportFilter = field(default_factory=ReportFilter)

    def validate(self) -> None:
        """Raise `InvalidReport` naming the first problem (a window that only ends up too long
        with today's date, `from` without `to`, is refused when the report runs)."""
        metric = METRICS.get(self.metric)
        if metric is None:
            raise InvalidReport(f"unknown metric {self.metric!r}", ["metric"])
        if len(self.group_by) > MAX_DIMENSIONS:
            raise InvalidReport(f"group by at most {MAX_DIMENSIONS} dimensions", ["groupBy"])
        if len(set(self.group_by)) != len(self.group_by):
            raise InvalidReport("a dimension appears twice in groupBy", ["groupBy"])
        for name in self.group_by:
            if name not in DIMENSIONS:
                raise InvalidReport(f"unknown dimension {name!r}", ["groupBy"])
            if name not in metric.dimensions:
                raise InvalidReport(f"{self.metric} cannot be grouped by {name}", ["groupBy"])
        if {"GRADE_LEVEL", "GRADUATION_YEAR"} <= set(self.group_by):
            raise InvalidReport(
                "GRADE_LEVEL and GRADUATION_YEAR group the same students: use one", ["groupBy"]
            )
        self._validate_filter(metric)

    def _validate_filter(self, metric: Metric) -> None:
        flt = self.filter
        for name, json_name in _FILTER_JSON.items():
            values = getattr(flt, name)
            if len(values) > MAX_FILTER_VALUES:
                raise InvalidReport(
                    f"at most {MAX_FILTER_VALUES} values per filter", ["filter", json_name]
                )
            if any(isinstance(v, str) and len(v) > 200 for v in values):
                raise InvalidReport("filter values are at most 200 characters", ["filter"])
        if any(not -1 <= g <= 13 for g in flt.grade_levels):
            raise InvalidReport("grade levels run from -1 (pre-K) to 13", ["filter", "gradeLevels"])
        unknown = [i for i in flt.indicators if i not in INDICATORS]
        if unknown:
            raise InvalidReport(f"unknown indicator {unknown[0]!r}", ["filter", "indicators"])
        unknown = [c for c in flt.readiness_categories if c not in CATEGORIES]
        if unknown:
            raise InvalidReport(
                f"unknown category {unknown[0]!r}", ["filter", "readinessCategories"]
            )
        if (flt.indicators or flt.readiness_categories) and self.metric != "READINESS_RATE":
            raise InvalidReport("indicator filters apply to READINESS_RATE only", ["filter"])
        if (flt.indicators or flt.readiness_categories) and not counted_indicators(flt):
            raise InvalidReport("no indicator is in the chosen categories", ["filter"])
        if (flt.date_from or flt.date_to) and metric.time is None:
            raise InvalidReport(
                f"{self.metric} counts today's students: from/to do not apply", ["filter", "from"]
            )
        if flt.date_from and flt.date_to:
            check_window(flt.date_from, flt.date_to)

    def window(self, today: date) -> tuple[date, date] | None:
        """The inclusive dates the metric's events are taken from, if it looks at dates.

        Event metrics default to the `DEFAULT_WINDOW_DAYS` ending `to` (or today); marks and
        readiness results are taken from all dates unless `from` or `to` is given.
        """
        metric = METRICS[self.metric]
        start, end = self.filter.date_from, self.filter.date_to
        if metric.time is None or (not metric.default_window and not (start or end)):
            return None
        end = end or max(today, start or today)
        start = start or end - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
        check_window(start, end)
        return start, end

    def to_json(self) -> dict[str, Any]:
        """The definition as stored in `saved_report.definition` and in the audit record."""
        flt: dict[str, Any] = {
            json_name: list(getattr(self.filter, name))
            for name, json_name in _FILTER_JSON.items()
            if getattr(self.filter, name)
        }
        if self.filter.date_from is not None:
            flt["from"] = self.filter.date_from.isoformat()
        if self.filter.date_to is not None:
            flt["to"] = self.filter.date_to.isoformat()
        return {"metric": self.metric, "groupBy": list(self.group_by), "filter": flt}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportSpec:
        """The inverse of `to_json`, validated."""
        try:
            raw = data.get("filter") or {}
            values: dict[str, Any] = {}
            for name, json_name in _FILTER_JSON.items():
                items = raw.get(json_name) or []
                kind = int if name in _INT_FILTERS else str
                if not isinstance(items, list) or not all(type(v) is kind for v in items):
                    raise InvalidReport(f"filter.{json_name} must be a list", ["filter", json_name])
                values[name] = tuple(items)
            for key, name in (("from", "date_from"), ("to", "date_to")):
                if raw.get(key) is not None:
                    values[name] = date.fromisoformat(raw[key])
            group_by = data.get("groupBy") or []
            if not isinstance(group_by, list) or not all(isinstance(d, str) for d in group_by):
                raise InvalidReport("groupBy must be a list of dimensions", ["groupBy"])
            spec = cls(str(data.get("metric")), tuple(group_by), ReportFilter(**values))
        except InvalidReport:
            raise
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidReport(f"not a report definition: {exc}") from exc
        spec.validate()
        return spec


def check_window(start: date, end: date) -> None:
    if start > end:
        raise InvalidReport("`from` is after `to`", ["filter", "from"])
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise InvalidReport(f"the window is at most {MAX_WINDOW_DAYS} days", ["filter", "from"])


def counted_indicators(flt: ReportFilter) -> list[str]:
    """The indicators a readiness report counts, in catalogue order."""
    return [
        name
        for name, category in INDICATORS.items()
        if (not flt.indicators or name in flt.indicators)
        and (not flt.readiness_categories or category in flt.readiness_categories)
    ]


def school_year_end(today: date) -> int:
    """The calendar year in which the current school year ends (it starts in August)."""
    return today.year + 1 if today.month >= 8 else today.year
