"""Which fields compile: the types the compiler walks and, per type, the fields it answers and the
type each leads to (None for a leaf). A field not listed here makes the whole query fall back."""

from __future__ import annotations

# Type → {field → the type it leads to, None for a scalar}.
FIELDS: dict[str, dict[str, str | None]] = {
    "Query": {
        "students": "StudentConnection",
        "student": "Student",
        "node": "Node",
        "classes": "ClassConnection",
        "class": "Class",
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
    "ClassConnection": {"edges": "ClassEdge", "pageInfo": "PageInfo", "totalCount": None},
    "ClassEdge": {"cursor": None, "node": "Class"},
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
        "marks": "Mark",
        "readiness": "ReadinessIndicator",
        "classes": "Class",
        "enrollments": "Enrollment",
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
    "Class": {
        "id": None,
        "title": None,
        "code": None,
        "subject": None,
        "gradeLevels": None,
        "visibility": None,
        "school": "School",
        "term": "Term",
        "teachers": "StaffMember",
        "students": "StudentConnection",
    },
    "Enrollment": {"beginsOn": None, "endsOn": None, "active": None, "class": "Class"},
    "StaffMember": {"id": None, "firstName": None, "lastName": None, "email": None},
    "School": {"id": None, "name": None, "code": None, "level": None},
    "Term": {"id": None, "name": None, "startsOn": None, "endsOn": None},
}

# Abstract types → the object types a value of them compiles as. The selection is collected once
# per object type (`Selected.variants`); the value's type picks one when the request runs, and a
# value of any other type falls back (`node` with the id of a School, say).
ABSTRACT: dict[str, tuple[str, ...]] = {"Node": ("Student", "Class")}

# The names a fragment's type condition may use on each type (the type and its interfaces).
CONDITIONS: dict[str, frozenset[str]] = {
    "Query": frozenset({"Query"}),
    "StudentConnection": frozenset({"StudentConnection"}),
    "StudentEdge": frozenset({"StudentEdge"}),
    "ClassConnection": frozenset({"ClassConnection"}),
    "ClassEdge": frozenset({"ClassEdge"}),
    "PageInfo": frozenset({"PageInfo"}),
    "Viewer": frozenset({"Viewer"}),
    "RoleGrant": frozenset({"RoleGrant"}),
    "District": frozenset({"District", "Node"}),
    "Student": frozenset({"Student", "Node"}),
    "Class": frozenset({"Class", "Node"}),
    "Enrollment": frozenset({"Enrollment"}),
    "StaffMember": frozenset({"StaffMember", "Node"}),
    "School": frozenset({"School", "Node"}),
    "Term": frozenset({"Term", "Node"}),
    "Guardian": frozenset({"Guardian", "Node"}),
    "Portfolio": frozenset({"Portfolio", "Node"}),
    "PortfolioItem": frozenset({"PortfolioItem", "Node"}),
    "Mark": frozenset({"Mark", "Node"}),
    "ReadinessIndicator": frozenset({"ReadinessIndicator", "Node"}),
}

# Arguments the compiler handles, by field (`Type.field`); any other argument falls back.
ARGUMENTS: dict[str, frozenset[str]] = {
    "Query.students": frozenset({"first", "after", "orderBy"}),
    "Query.student": frozenset({"id"}),
    "Query.node": frozenset({"id"}),
    "Query.classes": frozenset({"first", "after", "schoolId", "mine"}),
    "Query.class": frozenset({"id"}),
    "Class.students": frozenset({"first", "after"}),
}
