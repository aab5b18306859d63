"""The committed `schema/schema.graphql` is the schema the code builds, and it keeps the names
frontends depend on (SPEC §7)."""

from __future__ import annotations

import difflib

import pytest
import typer
from graphql import (
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    get_named_type,
)

from app.cli import SCHEMA_FILE, export_schema
from schema import create_schema

QUERY_FIELDS = {
    "viewer",
    "node",
    "students",
    "student",
    "classes",
    "class",
    "schools",
    "myAccess",
    "explainAccess",
}
MUTATIONS = {
    "login",
    "grantLegitimateInterest",
    "revokeLegitimateInterest",
    "recordMark",
    "addPortfolioItem",
    "updatePortfolioItem",
    "recordConsent",
    "optOutOfDirectory",
    "fileDataRequest",
    "resolveDataRequest",
    "assignRole",
    "revokeRole",
}
TYPES = {
    "Student",
    "Guardian",
    "StaffMember",
    "School",
    "District",
    "Class",
    "Enrollment",
    "Mark",
    "Portfolio",
    "PortfolioItem",
    "ReadinessIndicator",
    "LegitimateInterestGrant",
    "Disclosure",
    "DataRequest",
}
STUDENT_FIELDS = {
    "studentNumber",
    "firstName",
    "lastName",
    "preferredName",
    "displayName",
    "gradeLevel",
    "school",
    "dateOfBirth",
    "gender",
    "ethnicity",
    "email",
    "phone",
    "classes",
    "guardians",
    "marks",
    "portfolio",
    "readiness",
    "disclosures",
}


@pytest.fixture(scope="module")
def snapshot() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text())


def test_snapshot_matches_the_code():
    try:
        export_schema(check=True)
    except typer.Exit:
        printed = create_schema().as_str() + "\n"
        diff = "".join(
            difflib.unified_diff(
                SCHEMA_FILE.read_text().splitlines(keepends=True),
                printed.splitlines(keepends=True),
                "schema/schema.graphql",
                "the code",
            )
        )
        pytest.fail(f"run `schoolgraph export-schema` and review the diff:\n{diff}")


def _object(schema: GraphQLSchema, name: str) -> GraphQLObjectType:
    found = schema.get_type(name)
    assert isinstance(found, GraphQLObjectType), name
    return found


def test_query_and_types_have_the_contract_names(snapshot):
    assert _object(snapshot, "Query").fields.keys() >= QUERY_FIELDS
    assert snapshot.type_map.keys() >= TYPES
    node = snapshot.get_type("Node")
    for name in TYPES - {"Enrollment"}:
        assert node in _object(snapshot, name).interfaces, f"{name} is not a Node"


def test_query_has_report(snapshot):
    assert "report" in _object(snapshot, "Query").fields


def test_every_redactable_student_field_is_nullable(snapshot):
    fields = _object(snapshot, "Student").fields
    assert fields.keys() >= STUDENT_FIELDS
    non_null = {name for name, f in fields.items() if isinstance(f.type, GraphQLNonNull)}
    assert non_null == {"id"}


def test_mutations_take_one_input_and_return_user_errors(snapshot):
    mutations = _object(snapshot, "Mutation").fields
    assert mutations.keys() >= MUTATIONS
    for name, mutation in mutations.items():
        assert list(mutation.args) == ["input"], name
        assert isinstance(mutation.args["input"].type, GraphQLNonNull), name
        payload = get_named_type(mutation.type)
        assert isinstance(payload, GraphQLObjectType), name
        assert "userErrors" in payload.fields, name
