"""Persisted queries (docs/clients.md#persisted-queries): a client sends a document's SHA-256
instead of its text.

- `protocol`: the automatic persisted-query protocol (`extensions.persistedQuery`, as Apollo
  Client's `PersistedQueryLink` speaks it) and the allow-list mode, decided before any parsing.
- `store`: where documents are kept — automatic registrations in a bounded in-process cache,
  registered documents in the `persisted_query` table, read by the server and written only by
  `schoolgraph persisted-queries`.
- `documents`: reading a client's documents (Apollo's manifest, Relay's map, `.graphql` files)
  and checking them against the schema.
- `commands`: the `schoolgraph persisted-queries` command line.
"""
