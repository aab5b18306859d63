"""Field descriptions that say who may read a field, written from the policy when the schema is
built: the docs explorer and `schema/schema.graphql` name each governed field's class and its
readers, and cannot drift from `policies/` (`export-schema --check` fails when they do).

```python
describe_access(schema, load_policy())   # appends to every field a field class governs
```
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLObjectType

from app.guidance import description
from app.policy import CompiledPolicy

# Fields that show a policy object under another name: the enrollment history is the record of
# `Student.classes`, decided like it (schema/students/types.py).
FIELD_OBJECTS = {"Student.enrollments": "Student.classes"}


def describe_access(schema: strawberry.Schema, policy: CompiledPolicy) -> None:
    """Append to the description of every field a field class governs its class and readers,
    keeping what was written by hand before it."""
    for type_name, graphql_type in schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for name, field in graphql_type.fields.items():
            coordinate = f"{type_name}.{name}"
            access = description(policy, FIELD_OBJECTS.get(coordinate, coordinate))
            if access is not None:
                written = field.description
                field.description = f"{written}\n{access}" if written else access
