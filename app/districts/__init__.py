"""A district's own affairs (docs/consent.md).

One module per job:

- `settings`: the district's privacy settings (days a data request has, contract and
  subscription end, the notice before content collected without COPPA consent is erased).
- `cancel`: a school's cancellation: its classes go, its students and guardians stay.
- `commands`: the `schoolgraph district` and `schoolgraph school` commands.
"""
