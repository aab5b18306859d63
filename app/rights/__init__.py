"""Privacy rights carried out, not ticketed (SPEC §9, docs/privacy.md).

One module per job:

- `changes`: the before and after of personal values a write changed, kept encrypted beside the
  audit event and erased with the student's identity.
- `fulfil`: what completing (or denying) a data request does, by kind, in the resolving
  transaction.
- `inspect`: an inspection request's bundle (`bundle/`), stored encrypted and downloaded through
  an expiring link by the requester and the district's administrators.
"""
