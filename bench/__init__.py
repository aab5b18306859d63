"""The SchoolGraph benchmark (`scripts/bench`, SPEC §10).

It lives beside the product rather than inside `app/`: the installed package holds only `app*`
and `schema*`, so the server factory with authorization off (`bench.servers`) and the
hand-written floor (`bench.floor`) exist only in a checkout, never in a deployed server.

- `bench.database`: one seeded template database per district size, a fresh copy per run;
- `bench.scenarios`: what each simulated frontend asks for, and as whom;
- `bench.load`: the load generators (wrk with a Lua script, or a small asyncio client);
- `bench.peer`: PostGraphile v4 with row-level security beside SchoolGraph (`--peer`);
- `bench.run`: starts the servers, drives every scenario, samples memory (`python -m bench`);
- `bench.report`: the table, `docs/benchmarks.md` and its chart.
"""
