"""Privacy rights carried out, not ticketed (SPEC §9, docs/privacy.md).

One module per job:

- `fulfil`: what completing a data request does, by kind, in the resolving transaction.
- `inspect` (with `bundle/`): an inspection request's bundle, stored encrypted and downloaded
  through an expiring link by the requester and the district's administrators.
- `validate`, `amend`: an amendment's proposed values, checked when filed and applied when
  approved; `statements`: the requester's statement after a denial.
- `deidentify`, `deletion`: removing a student's identity for good (a DELETE request, and
  retention: app/retention/).
- `contact`: self-service corrections of one's own contact details.
- `changes`: the before and after of personal values a write changed, kept encrypted beside the
  audit event and erased with the student's identity.

Consent that gates lives in app/consent/, district settings and a school's cancellation in
app/districts/.
"""
