"""Reading a OneRoster set the way real exports write it.

A set is a `.zip` or a folder. File names are matched without regard to case
(`userprofiles.csv` is `userProfiles.csv`); text is UTF-8 with or without a byte-order mark,
lines end in LF or CRLF, quoted fields may hold commas and newlines. Header names are matched
without regard to case or surrounding spaces, in any order; empty header cells are dropped.

    with RosterSource.open(Path("district.zip")) as source:
        for line, row in source.rows("users.csv"):
            row["givenname"]
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import IO

# Long quoted fields (a class's term list, a vendor's JSON) exceed the csv module's default.
csv.field_size_limit(16 * 1024 * 1024)


class RosterSourceError(Exception):
    """The path is neither a folder nor a zip file of CSV files."""


class RosterSource(AbstractContextManager["RosterSource"]):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        if path.is_dir():
            for child in path.rglob("*"):
                if child.is_file():
                    self._names.setdefault(child.name.lower(), str(child))
        elif path.is_file() and zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            for info in self._zip.infolist():
                if not info.is_dir() and "__macosx" not in info.filename.lower():
                    self._names.setdefault(Path(info.filename).name.lower(), info.filename)
        else:
            raise RosterSourceError(f"{path}: not a folder or a .zip of OneRoster CSV files")

    @classmethod
    def open(cls, path: Path) -> RosterSource:
        return cls(path)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        return name.lower() in self._names

    def size(self, name: str) -> int:
        stored = self._names[name.lower()]
        if self._zip is not None:
            return self._zip.getinfo(stored).file_size
        return Path(stored).stat().st_size

    def _binary(self, name: str) -> IO[bytes]:
        stored = self._names[name.lower()]
        if self._zip is not None:
            return self._zip.open(stored)
        return open(stored, "rb")

    def header(self, name: str) -> list[str]:
        """The file's column names as written (for messages about unknown columns)."""
        with self._binary(name) as raw, _text(raw) as text:
            return next(csv.reader(text), [])

    def rows(
        self, name: str, on_bytes: Callable[[int], None] | None = None
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """(line where the record starts, {lower-case column: stripped value}) per record.

        Streamed: memory holds one record at a time, whatever the file's size.
        """
        with self._binary(name) as raw, _text(raw) as text:
            reader = csv.reader(text)
            try:
                header = [cell.strip().lower() for cell in next(reader)]
            except StopIteration:
                return
            keep = [(i, column) for i, column in enumerate(header) if column]
            start = reader.line_num + 1
            seen = 0
            for record in reader:
                if record and any(cell.strip() for cell in record):
                    yield (
                        start,
                        {
                            column: record[i].strip() if i < len(record) else ""
                            for i, column in keep
                        },
                    )
                start = reader.line_num + 1
                if on_bytes is not None:
                    seen += 1
                    if seen % 5000 == 0:
                        on_bytes(raw.tell() if raw.seekable() else 0)
            if on_bytes is not None:
                on_bytes(raw.tell() if raw.seekable() else 0)


def _text(raw: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig drops a byte-order mark if there is one; newline="" lets csv see CRLF and
    # newlines inside quotes as they are.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
