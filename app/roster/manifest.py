"""`manifest.csv`: which OneRoster version a set is, and how each file is processed.

manifest = Manifest.parse(source, messages)
manifest.version, manifest.mode("enrollments")   # "1.1", "bulk" | "delta" | "absent"
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.roster.csvfiles import RosterSource
from app.roster.messages import Messages

MANIFEST = "manifest.csv"
VERSIONS = ("1.1", "1.2")
BULK, DELTA, ABSENT = "bulk", "delta", "absent"


@dataclass
class Manifest:
    version: str
    modes: dict[str, str] = field(default_factory=dict)

    def mode(self, entity: str) -> str:
        return self.modes.get(entity.lower(), ABSENT)

    @classmethod
    def parse(cls, source: RosterSource, messages: Messages) -> Manifest:
        if not source.has(MANIFEST):
            messages.error(MANIFEST, 0, "-", "the set has no manifest.csv")
            return cls(version="1.1")
        values: dict[str, tuple[int, str]] = {}
        for line, row in source.rows(MANIFEST):
            name = row.get("propertyname", "")
            if name:
                values[name.lower()] = (line, row.get("value", ""))
        line, version = values.get("oneroster.version", (1, ""))
        if version not in VERSIONS:
            messages.error(
                MANIFEST, line, "value", f"oneroster.version {version!r}: expected 1.1 or 1.2"
            )
        modes: dict[str, str] = {}
        for name, (line, value) in values.items():
            if not name.startswith("file."):
                continue
            mode = value.strip().lower()
            if not mode:
                messages.warn(MANIFEST, line, "value", f"{name}: no mode given; read as absent")
                mode = ABSENT
            if mode not in (BULK, DELTA, ABSENT):
                messages.error(
                    MANIFEST, line, "value", f"{value!r}: expected bulk, delta or absent"
                )
                continue
            if value != mode:
                messages.warn(MANIFEST, line, "value", f"{value!r} read as {mode!r}")
            modes[name.removeprefix("file.")] = mode
        return cls(version=version if version in VERSIONS else "1.1", modes=modes)
