"""The peer: PostGraphile v4 with row-level security, served beside SchoolGraph (`--peer`).

PostGraphile is installed from the npm registry at bench time into a cache outside the checkout,
and serves its own copy of the benchmark's database: the same district, plus a schema `peer`
holding the students' served columns in plain text (SchoolGraph keeps email encrypted at rest;
PostGraphile cannot decrypt, so the set-up does it once) and the row-level security that lists
the students SchoolGraph lists (`rls.sql`).

- `bench.peer.install`: Node, npm and PostGraphile 4.14.1 in the cache;
- `bench.peer.database`: the peer's copy of the database, its roles, rows and policy, its tokens;
- `bench.peer.server`: PostGraphile as a `bench.servers.Server` (same worker count as SchoolGraph);
- `bench.peer.compare`: a PostGraphile answer and a SchoolGraph answer as the same set of rows.
"""
