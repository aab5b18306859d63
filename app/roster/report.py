"""What an import did (or, in a dry run, would do): counts per entity and the messages.

report.ok, report.counts["enrollments"]["inserted"], report.lines()
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from app.roster.messages import ERROR, WARNING, Messages

ENTITIES = ("schools", "terms", "classes", "users", "role assignments", "students",
            "guardian links", "teaching assignments", "enrollments", "marks")  # fmt: skip
KINDS = ("inserted", "updated", "ended", "unchanged")


@dataclass
class ImportReport:
    version: str
    district_id: int | None
    dry_run: bool
    messages: Messages
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    rows_read: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.messages.errors_total == 0

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run

    def count(self, entity: str, kind: str) -> int:
        return self.counts.get(entity, Counter())[kind]

    def totals(self) -> dict[str, dict[str, int]]:
        return {e: {k: self.count(e, k) for k in KINDS} for e in ENTITIES}

    def lines(self) -> list[str]:
        """The messages, errors first, then a summary line."""
        out = [f"error: {m}" for m in self.messages.shown if m.severity == ERROR]
        out += [f"warning: {m}" for m in self.messages.shown if m.severity == WARNING]
        shown = len(self.messages.shown)
        total = self.messages.errors_total + self.messages.warnings_total
        if total > shown:
            out.append(f"... and {total - shown:,} more messages not listed")
        return out
