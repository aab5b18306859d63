"""Roster imports: the runs of `POST /roster/imports` (docs/oneroster.md)."""
