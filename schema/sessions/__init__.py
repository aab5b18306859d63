"""Sign-in sessions: `Viewer.sessions`, `Query.activeSessions`, `logout`, `revokeSession` and
`revokeAllSessions` (docs/sessions.md)."""
