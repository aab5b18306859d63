"""SchoolGraph runtime: configuration, database, models, authentication, policy, ASGI app, CLI."""
