"""Consent that gates (SPEC §9, docs/consent.md).

One module per job:

- `rules`: what a student's current consents allow: collection from an under-13 student (COPPA),
  disclosure to third parties (vendors), in Python and as SQL.
- `portfolio`: a student's own deletion of a portfolio item, and a guardian's of a child's.
"""
