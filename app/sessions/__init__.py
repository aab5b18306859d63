"""Sign-in sessions: each `login` starts one, its token names it (`sid`), and revoking it ends
the token at the next request of every worker (docs/sessions.md).

- `store`: start, list and revoke sessions;
- `checks`: what the statement that loads the viewer adds to refuse an ended session and to
  note, at most once a minute, when the session was last seen.
"""
