"""What a request observably did — its response and the disclosure rows it wrote — and the
differences between two of them.

Two paths answer alike when their status, `data` (key order included), errors (messages, codes,
counts, paths, order, every extension but `requestId`) and response extensions agree, and their
requests wrote the same disclosure rows. Left out, because they differ between any two requests:
request ids, row ids, times, the transaction, MACs and hashes (they sign the request id and
time), and the statement and Casbin counts (a compiled answer is meant to need fewer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

# Disclosure columns that are the request's own, not what it disclosed.
REQUEST_COLUMNS = {"id", "request_id", "disclosed_at", "txn", "mac", "prev_hash", "hash"}
# Response extensions that are the request's own or measure how it was answered.
# What differs between any two requests, or says which path answered.
REQUEST_EXTENSIONS = {"requestId", "sqlStatements", "casbinCalls", "compiled"}


@dataclass
class Observed:
    status: int
    body: dict[str, Any]
    disclosures: list[dict[str, Any]]

    @property
    def request_id(self) -> str | None:
        return (self.body.get("extensions") or {}).get("requestId")


async def disclosure_rows(db: asyncpg.Connection, request_id: str | None) -> list[dict[str, Any]]:
    """The rows a request wrote to the record, without what is the request's own, in a stable
    order (every remaining column)."""
    if request_id is None:
        return []
    rows = await db.fetch("SELECT * FROM disclosure WHERE request_id = $1", request_id)
    found = [{k: v for k, v in dict(r).items() if k not in REQUEST_COLUMNS} for r in rows]
    return sorted(found, key=lambda row: json.dumps(row, default=str, sort_keys=True))


def _response(body: dict[str, Any]) -> dict[str, Any]:
    """The body without what is the request's own; key order kept."""
    shown = dict(body)
    if "extensions" in shown:
        shown["extensions"] = {
            k: v for k, v in shown["extensions"].items() if k not in REQUEST_EXTENSIONS
        }
    if "errors" in shown:
        errors = []
        for error in shown["errors"]:
            error = dict(error)
            if "extensions" in error:
                error["extensions"] = {
                    k: v for k, v in error["extensions"].items() if k != "requestId"
                }
            errors.append(error)
        shown["errors"] = errors
    return shown


def _walk(path: str, a: Any, b: Any, found: list[str]) -> None:
    """Where `a` and `b` differ, first difference per branch."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            found.append(f"{path or '.'}: keys {list(a)} != {list(b)}")
            return
        for key in a:
            _walk(f"{path}.{key}", a[key], b[key], found)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            found.append(f"{path}: {len(a)} items != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _walk(f"{path}[{i}]", x, y, found)
    elif a != b or type(a) is not type(b):
        found.append(f"{path}: {a!r} != {b!r}")


def differences(compiled: Observed, reference: Observed) -> list[str]:
    """Every way the compiled answer differs from the reference's; empty when they agree."""
    found: list[str] = []
    if compiled.status != reference.status:
        found.append(f"status: {compiled.status} != {reference.status}")
    _walk("", _response(compiled.body), _response(reference.body), found)
    if compiled.disclosures != reference.disclosures:
        key = lambda row: json.dumps(row, default=str, sort_keys=True)  # noqa: E731
        ours, theirs = (
            {key(r) for r in compiled.disclosures},
            {key(r) for r in reference.disclosures},
        )
        found.append(
            f"disclosure rows: {len(compiled.disclosures)} != {len(reference.disclosures)};"
            f" only compiled: {sorted(ours - theirs)}; only reference: {sorted(theirs - ours)}"
        )
    return found
