"""The GraphQL-over-HTTP conformance audit (`graphql-http`'s `serverAudits`), run by Node against a
real `schoolgraph serve`: every audit, MUST, SHOULD and MAY alike, is to answer `ok`."""

from __future__ import annotations

import json

from tests.live import node_packages, run_node, serve

# graphql-http needs `graphql` beside it (a peer dependency): pinned too, so a run is repeatable.
AUDIT_PACKAGES = {"graphql-http": "1.23.1", "graphql": "16.11.0"}
AUDIT_COUNT = 61

AUDIT_SCRIPT = """
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  results.push({ id: result.id, name: result.name, status: result.status,
                 reason: result.reason ?? null });
}
console.log(JSON.stringify(results));
"""


def test_every_graphql_over_http_audit_is_ok(database_url):
    packages = node_packages(AUDIT_PACKAGES)
    with serve(database_url) as base:
        output = run_node(packages, AUDIT_SCRIPT, f"{base}/graphql")
    results = json.loads(output)
    assert len(results) == AUDIT_COUNT
    failed = [r for r in results if r["status"] != "ok"]
    assert not failed, "\n".join(
        f"{r['status']} {r['id']} {r['name']}: {r['reason']}" for r in failed
    )
