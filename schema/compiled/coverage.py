"""Which fields compile: the types the compiler walks and, per type, the fields it answers and the
type each leads to (None for a leaf). A field not listed here makes the whole query fall back."""

from __future__ import annotations

# Type → {field → the type it leads to, None for a scalar}.
FIELDS: dict[str, dict[str, str | None]] = {
    # `node` compiles as a Student: an id of any other type falls back when the request runs.
    "Query": {
        "students": "StudentConnection",
        "student": "Student",
        "node": "Student",
        "viewer": "Viewer",
    },
    # `sessions` is not covered.
    "Viewer": {
        "id": None,
        "username": None,
        "firstName": None,
        "lastName": None,
        "roles": "RoleGrant",
        "district": "District",
        "student": "Student",
        "children": "Student",
    },
    "RoleGrant": {"role": None, "schoolId": None},
    # The plain fields only: its settings are decided by the policy, on the resolver path.
    "District": {"id": None, "name": None},
    "StudentConnection": {"edges": "StudentEdge", "pageInfo": "PageInfo", "totalCount": None},
    "StudentEdge": {"cursor": None, "node": "Student"},
    "PageInfo": {
        "hasNextPage": None,
        "hasPreviousPage": None,
        "startCursor": None,
        "endCursor": None,
    },
    "Student": {
        "id": None,
        "firstName": None,
        "lastName": None,
        "preferredName": None,
        "displayName": None,
        "gradeLevel": None,
        "studentNumber": None,
        "email": None,
        "phone": None,
        "dateOfBirth": None,
        "gender": None,
        "ethnicity": None,
        "school": "School",
        "guardians": "Guardian",
        "portfolio": "Portfolio",
    },
    "Guardian": {
        "id": None,
        "linkId": None,
        "firstName": None,
        "lastName": None,
        "relationship": None,
        "legalGuardian": None,
        "email": None,
        "phone": None,
    },
    "Portfolio": {"id": None, "headline": None, "items": "PortfolioItem"},
    "PortfolioItem": {
        "id": None,
        "kind": None,
        "title": None,
        "body": None,
        "visibility": None,
        "createdAt": None,
        "updatedAt": None,
        "erasedAt": None,
        "marks": "Mark",
        "readiness": "ReadinessIndicator",
    },
    # `Mark.class` is not here: a selection of it falls back.
    "Mark": {
        "id": None,
        "score": None,
        "letter": None,
        "comment": None,
        "recordedAt": None,
        "term": "Term",
    },
    "ReadinessIndicator": {
        "id": None,
        "indicator": None,
        "category": None,
        "met": None,
        "value": None,
        "achievedOn": None,
        "source": None,
    },
    "School": {"id": None, "name": None, "code": None, "level": None},
    "Term": {"id": None, "name": None, "startsOn": None, "endsOn": None},
}

# The names a fragment's type condition may use on each type (the type and its interfaces).
CONDITIONS: dict[str, frozenset[str]] = {
    "Query": frozenset({"Query"}),
    "StudentConnection": frozenset({"StudentConnection"}),
    "StudentEdge": frozenset({"StudentEdge"}),
    "PageInfo": frozenset({"PageInfo"}),
    "Viewer": frozenset({"Viewer"}),
    "RoleGrant": frozenset({"RoleGrant"}),
    "District": frozenset({"District", "Node"}),
    "Student": frozenset({"Student", "Node"}),
    "School": frozenset({"School", "Node"}),
    "Term": frozenset({"Term", "Node"}),
    "Guardian": frozenset({"Guardian", "Node"}),
    "Portfolio": frozenset({"Portfolio", "Node"}),
    "PortfolioItem": frozenset({"PortfolioItem", "Node"}),
    "Mark": frozenset({"Mark", "Node"}),
    "ReadinessIndicator": frozenset({"ReadinessIndicator", "Node"}),
}

# Arguments the compiler handles on each root field; any other argument falls back.
ARGUMENTS: dict[str, frozenset[str]] = {
    "students": frozenset({"first", "after", "orderBy"}),
    "student": frozenset({"id"}),
    "node": frozenset({"id"}),
}
