"""The GraphQL side of district administration (app/admin)."""
