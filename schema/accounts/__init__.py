"""Accounts for administrators: `users`, `accessReview` and the account lifecycle mutations."""
