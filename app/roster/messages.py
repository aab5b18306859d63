"""Errors and warnings of an import, each `file:line: column: message`, kept up to a cap.

Every message is counted; only the first `limit` of each severity are kept, so a file with a
million bad rows reports a million in its counts and a readable page of examples.

    messages = Messages()
    messages.warn("users.csv", 12, "password", "passwords are never imported")
    messages.errors_total, str(messages.shown[0])
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Message:
    severity: str
    file: str
    line: int
    column: str
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.text}"


@dataclass
class Messages:
    limit: int = 100
    strict: bool = False
    shown: list[Message] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (severity, file)
    _once: set[tuple[str, str, str]] = field(default_factory=set)
    _shown: Counter[str] = field(default_factory=Counter)

    def add(self, severity: str, file: str, line: int, column: str, text: str) -> None:
        if severity == WARNING and self.strict:
            severity = ERROR
        self.counts[(severity, file)] += 1
        if self._shown[severity] < self.limit:
            self._shown[severity] += 1
            self.shown.append(Message(severity, file, line, column, text))

    def error(self, file: str, line: int, column: str, text: str) -> None:
        self.add(ERROR, file, line, column, text)

    def warn(self, file: str, line: int, column: str, text: str) -> None:
        self.add(WARNING, file, line, column, text)

    def warn_once(self, file: str, line: int, column: str, text: str) -> None:
        """A warning about a whole file's habit (vendor columns, passwords): said once."""
        if (file, column, text) not in self._once:
            self._once.add((file, column, text))
            self.warn(file, line, column, text)

    def total(self, severity: str) -> int:
        return sum(n for (s, _), n in self.counts.items() if s == severity)

    @property
    def errors_total(self) -> int:
        return self.total(ERROR)

    @property
    def warnings_total(self) -> int:
        return self.total(WARNING)

    def count_more(self, severity: str, file: str, n: int) -> None:
        """Count `n` more messages found by a set query but not listed one by one."""
        if severity == WARNING and self.strict:
            severity = ERROR
        if n > 0:
            self.counts[(severity, file)] += n
