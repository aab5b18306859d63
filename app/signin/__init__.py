"""Signing in: the lockout (per account and per address), the second factor, and the accounts
that production refuses (docs/login-protection.md)."""
