"""Retention (SPEC §9, docs/retention.md): de-identify and purge what the rules say is due.

One module per job:

- `rules`: what is due as of a date (read-only).
- `run`: carries a plan out in batches, one transaction per batch, each action audited.
- `report`: `schoolgraph retention run`, the plan and summary printed, a progress bar.
"""
