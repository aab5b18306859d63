"""Accounts: the district's users and the termly review of who holds access.

- `app.accounts.scope`: which accounts an administrator lists and manages;
- `app.accounts.users`: list, create, update, deactivate and reactivate accounts (audited);
- `app.accounts.review`: the termly access review (flags) and marking an account reviewed;
- `app.accounts.commands`: `schoolgraph access-review`.
"""
