"""Passwords: one complexity rule wherever a password is set, changing one's own password,
one-time reset and invitation tokens issued by an administrator, hashes upgraded at sign-in when
the hashing parameters change, and the first administrator of a new deployment.

- `rules`: what a new password must be (length, a strength estimate, nothing personal).
- `change`: `changePassword`, the signed-in user's own.
- `tokens`: reset and invitation tokens (only their SHA-256 is stored), issued and redeemed.
- `rehash`: a stored hash made with older parameters is replaced after a successful sign-in.
- `first_admin`: `schoolgraph create-admin`.
"""
