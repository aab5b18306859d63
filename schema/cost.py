"""The cost model: how many rows one field of a query may touch.

A query's cost is, summed over every path of the document, the product of the page sizes along
it: `students(first: 1000) { edges { node { classes { id } } } }` touches 1,000 students and up
to 1,000 x 8 classes, so it costs 1,000 + 8,000 = 9,000. A connection counts its `first` (its
default when omitted, the page cap when above it, which the field refuses anyway); an unpaged list
counts its weight below, a generous number of rows it holds for one parent; a single object
counts one row. Relay's wrappers (`…Connection`, `…Edge`, `PageInfo`) hold no row of their own.

    >>> multiplier("Student", "classes", "Class", page=None, page_cap=1000, is_list=True)
    8

A report builds every cell of its grouping, with suppression over all of them, whatever its
selection asks for; `report` therefore counts the cells it may build, estimated from its `groupBy`
without SQL (`report_cells`): every value of each dimension plus its subtotal, multiplied.

    >>> report_cells(["SCHOOL", "GRADE_LEVEL"])
    3216
"""

from __future__ import annotations

from app.reports.definitions import MAX_DIMENSIONS

# Unpaged lists of objects: at most how many rows one parent holds, as seeded demo districts and
# real ones have them (a student's enrollment history, a term's marks), rounded up. Every such
# list of the schema is here (tests/test_query_analysis.py checks it).
LIST_WEIGHTS: dict[str, int] = {
    "Student.classes": 8,
    "Student.enrollments": 16,
    "Student.marks": 16,
    "Student.guardians": 4,
    "Student.readiness": 10,
    # Four kinds, each given, withdrawn and given again now and then over the school years.
    "Student.consents": 20,
    "Portfolio.items": 20,
    "Class.teachers": 3,
    "Viewer.children": 5,
    "Viewer.roles": 5,
    # A few devices signed in at once; at most app.sessions.store.MAX_OWN.
    "Viewer.sessions": 10,
    "Query.schools": 50,
    "Query.legitimateInterestGrants": 100,
    "Query.dataRequests": 100,
    "DataRequest.deletionPreview": 20,
    "Report.cells": 100,
    "ReportCell.dimensions": 5,
    "StudentAccess.fields": 20,
    # A statement per denied amendment; an amendment proposes each field once (8 fields); a
    # write changes a handful of personal values.
    "Student.statements": 10,
    "DataRequest.changes": 8,
    "AuditEvent.changes": 8,
    # Accounts: a few roles each; the staff and vendors of a district (5,786 in a district of
    # 100,000 students), a few grants each; the student accounts a review flags, and its flags.
    "Account.roles": 5,
    "AccessReview.accounts": 6000,
    "AccessReview.studentAccounts": 500,
    "AccessReview.flagCounts": 4,
    "AccessReviewAccount.roles": 3,
    "AccessReviewAccount.grants": 3,
}
# A list added to the schema without a weight of its own (the test above fails meanwhile).
DEFAULT_WEIGHT = 10
# What `first` is when neither the query nor the schema says (schema.relay.page_size).
DEFAULT_PAGE = 50


# How many values a report dimension has, at most, in one district (generous): a district of
# a few hundred schools, grades -1 to 13, the stored genders and federal ethnicities with
# "unknown", a school year's classes of a large district, terms of a year, weeks of the
# longest window (366 days), CCMR indicators and categories.
DIMENSION_SIZES: dict[str, int] = {
    "SCHOOL": 200,
    "GRADE_LEVEL": 15,
    "GRADUATION_YEAR": 15,
    "GENDER": 4,
    "ETHNICITY": 8,
    "CLASS": 500,
    "TERM": 8,
    "WEEK": 53,
    "INDICATOR": 6,
    "READINESS_CATEGORY": 3,
}
# A report run from a saved view (`SavedReport.run`): its grouping is not in the query; a view
# of two large dimensions.
SAVED_REPORT_CELLS = 20_000


# A class is at one school and in one term: grouped with the class, those dimensions add no value
# of their own, only their subtotal.
NESTED_IN_CLASS = ("SCHOOL", "TERM")


def report_cells(group_by: object) -> int:
    """The cells a report grouped by `group_by` may have: one per value of each grouping set,
    summed over the sets (every subset of the dimensions). That is each dimension's values and
    its subtotal, multiplied, except that with `CLASS` the school and term of a class are known.
    An unknown name counts as the largest dimension; a grouping that validation refuses (more
    than `MAX_DIMENSIONS`) or a malformed argument builds no cell.

        >>> report_cells(["CLASS", "SCHOOL"])  # 500 x 2 (school or its total) + 201
        1201
    """
    names = [str(n) for n in group_by] if isinstance(group_by, list | tuple) else []
    if len(names) > MAX_DIMENSIONS:
        return 0
    largest = max(DIMENSION_SIZES.values())
    sizes = {name: DIMENSION_SIZES.get(name, largest) for name in names}
    nested = [n for n in NESTED_IN_CLASS if n in sizes] if "CLASS" in sizes else []
    cells = 1
    for name, size in sizes.items():
        if name != "CLASS" and name not in nested:
            cells *= size + 1
    if "CLASS" not in sizes:
        return cells
    # Sets with the class: its values, once per nested dimension rolled up or not; sets without
    # it: the nested dimensions' own values and subtotals.
    without = 1
    for name in nested:
        without *= sizes[name] + 1
    with_class: int = sizes["CLASS"] << len(nested)
    return cells * (with_class + without)


def holds_no_row(type_name: str) -> bool:
    """Relay's connection types hold no row (their rows are the nodes), nor do a mutation's
    `userErrors`, made in memory from its input."""
    return type_name.endswith(("Connection", "Edge")) or type_name in ("PageInfo", "UserError")


def multiplier(
    parent: str, field: str, item: str, *, page: int | None, page_cap: int, is_list: bool
) -> int:
    """How many times the selection under `parent.field` (of type `item`, or a list of them) is
    fetched for one `parent` row.

    `page` is the field's `first` as the query resolves it (None for a field without `first`).
    """
    if page is not None:
        return min(max(page, 0), page_cap)
    if not is_list or holds_no_row(parent) or holds_no_row(item):
        return 1
    return LIST_WEIGHTS.get(f"{parent}.{field}", DEFAULT_WEIGHT)
