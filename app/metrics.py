"""Process-wide counters, exposed at `/metrics` in the Prometheus text format."""

from __future__ import annotations

from collections import Counter

from app.policy import CASBIN_CALLS

_counters: Counter[str] = Counter()

_HELP = {
    "schoolgraph_graphql_requests_total": "GraphQL requests answered",
    "schoolgraph_sql_statements_total": "SQL statements sent by GraphQL requests",
    "schoolgraph_disclosures_total": "Disclosure rows written",
    "schoolgraph_redacted_fields_total": "Field values withheld by policy",
    "schoolgraph_password_verifications_total": "Password hashes verified (in worker threads)",
    "schoolgraph_login_rate_limited_total": "Login attempts refused by a rate limit",
    "schoolgraph_login_busy_total": "Login attempts refused because the hash queue was full",
    "schoolgraph_login_limit_errors_total": "Login attempts let through: limit storage failed",
    "schoolgraph_password_rehashes_total": "Password hashes upgraded to today's parameters",
}


def add(name: str, value: int = 1) -> None:
    _counters[name] += value


def render() -> str:
    lines = []
    for name, text in _HELP.items():
        lines += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {_counters[name]}"]
    lines += [
        "# HELP schoolgraph_casbin_calls_total Calls into the Casbin enforcer",
        "# TYPE schoolgraph_casbin_calls_total counter",
        f"schoolgraph_casbin_calls_total {CASBIN_CALLS.calls}",
    ]
    return "\n".join(lines) + "\n"
