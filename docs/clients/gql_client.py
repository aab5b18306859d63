"""Python gql 4.4 over httpx: sign in, the README's query sent with its SHA-256, a second page,
the FORBIDDEN errors. Run: SCHOOLGRAPH_URL=http://127.0.0.1:8000 python gql_client.py"""

import hashlib
import json
import os

from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from graphql import print_ast

URL = os.environ.get("SCHOOLGRAPH_URL", "http://127.0.0.1:8000") + "/graphql"
ORIGIN = os.environ.get("SCHOOLGRAPH_ORIGIN")  # a browser would send its page's origin itself


def report(what: str, **value: object) -> None:
    print(json.dumps({"what": what, **value}))


def persisted(text: str, variables: dict[str, object] | None = None) -> GraphQLRequest:
    """The request with its document's SHA-256 (gql sends the document as it prints it)."""
    request = GraphQLRequest(text, variable_values=variables)
    sha256 = hashlib.sha256(print_ast(request.document).encode()).hexdigest()
    return GraphQLRequest(
        request, extensions={"persistedQuery": {"version": 1, "sha256Hash": sha256}}
    )


headers = {"Origin": ORIGIN} if ORIGIN else {}
LOGIN = """mutation Login($input: LoginInput!) {
  login(input: $input) { token userErrors { message } }
}"""
with Client(transport=HTTPXTransport(url=URL, headers=headers)) as session:
    user = os.environ.get("SCHOOLGRAPH_USER", "coordinator")
    answer = session.execute(
        persisted(LOGIN, {"input": {"username": user, "password": "demo-password-1"}})
    )
token = answer["login"]["token"]
report("login", signedIn=bool(token))

transport = HTTPXTransport(url=URL, headers={**headers, "Authorization": f"Bearer {token}"})
# The README's query, unchanged.
STUDENTS = """{
  students(first: 5) {
    totalCount
    edges { node { firstName lastName gradeLevel school { name } email } }
  }
}"""
with Client(transport=transport) as session:
    try:
        data, errors = session.execute(persisted(STUDENTS)), []
    except TransportQueryError as error:  # partial data: the rows and their withheld fields
        data, errors = error.data, error.errors or []
    response = transport.response_headers
    report("http", allowOrigin=response.get("access-control-allow-origin") if response else None)
    report(
        "students",
        totalCount=data["students"]["totalCount"],
        rows=len(data["students"]["edges"]),
        forbidden=[
            {"path": e["path"], "fieldClass": e["extensions"]["fieldClass"],
             "reason": e["extensions"]["reason"]}
            for e in errors
            if e.get("extensions", {}).get("code") == "FORBIDDEN"
        ],
    )  # fmt: skip

    PAGE = """query Page($after: String) {
      students(first: 2, after: $after) {
        pageInfo { endCursor hasNextPage }
        edges { node { id lastName } }
      }
    }"""
    page1 = session.execute(persisted(PAGE, {"after": None}))
    after = page1["students"]["pageInfo"]["endCursor"]
    page2 = session.execute(persisted(PAGE, {"after": after}))
    edges = page1["students"]["edges"] + page2["students"]["edges"]
    report("pages", ids=[e["node"]["id"] for e in edges])
