"""Which JSON media type an answer is sent as, from the request's `Accept` header.

GraphQL over HTTP defines two: `application/graphql-response+json`, whose statuses say whether
the request was executed, and the older `application/json`, answered 200 whatever the GraphQL
errors. A client gets the one it prefers by `Accept` weight (`q`); when it names both alike it
gets the newer, and a wildcard (`*/*`, `application/*`) or no `Accept` at all gets
`application/json`, which every client understands. A client that accepts neither is told so
(406) rather than sent what it said it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

# Candidates in order of preference when the client weighs them alike.
_CANDIDATES = (GRAPHQL_RESPONSE_JSON, JSON)


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an `Accept` header with their weights; malformed entries skipped."""
    ranges = []
    for part in accept.split(","):
        media_range, *params = (item.strip() for item in part.split(";"))
        if "/" not in media_range:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = -1.0
        if 0.0 <= weight <= 1.0:
            ranges.append((media_range.lower(), weight))
    return ranges


def _weight(candidate: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The weight the client gives `candidate`, from the most specific range that matches it
    (RFC 9110, 12.5.1), and how specific that range is (2 exact, 1 `type/*`, 0 `*/*`)."""
    kind = candidate.split("/")[0]
    best: tuple[int, float] | None = None
    for media_range, weight in ranges:
        if media_range == candidate:
            specificity = 2
        elif media_range == f"{kind}/*":
            specificity = 1
        elif media_range == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, weight)
    return (0.0, -1) if best is None else (best[1], best[0])


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in; None when the client accepts neither JSON type."""
    if accept is None or not accept.strip():
        return JSON
    ranges = _ranges(accept)
    weighed = [(*_weight(c, ranges), -i, c) for i, c in enumerate(_CANDIDATES)]
    weight, specificity, _, chosen = max(weighed)
    if weight <= 0.0:
        return None
    if specificity < 2:
        # Only a wildcard matched: the type every client reads.
        return JSON
    return chosen


def media_type_of(headers: Mapping[str, str]) -> str:
    """The media type of an error answer: the negotiated one, else `application/json` (a client
    that accepts neither still learns why it was refused)."""
    return negotiate(headers.get("accept")) or JSON
