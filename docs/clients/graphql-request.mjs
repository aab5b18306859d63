// graphql-request 7.4 (Node 20 or a browser): sign in, the README's query sent with its SHA-256,
// a second page, the FORBIDDEN errors. Run: SCHOOLGRAPH_URL=http://127.0.0.1:8000 node graphql-request.mjs
import { createHash } from "node:crypto";
import { GraphQLClient, gql } from "graphql-request";

const url = `${process.env.SCHOOLGRAPH_URL ?? "http://127.0.0.1:8000"}/graphql`;
const origin = process.env.SCHOOLGRAPH_ORIGIN; // a browser sends its page's origin itself
const report = (what, value) => console.log(JSON.stringify({ what, ...value }));

// Every request carries its document's SHA-256 (`extensions.persistedQuery`): the server checks
// it, and in allow-list mode runs the document only if it is registered.
function withHash(request) {
  const body = JSON.parse(request.body);
  const sha256Hash = createHash("sha256").update(body.query).digest("hex");
  body.extensions = { persistedQuery: { version: 1, sha256Hash } };
  return { ...request, body: JSON.stringify(body) };
}

const client = new GraphQLClient(url, {
  headers: origin ? { Origin: origin } : {},
  requestMiddleware: withHash,
  // Partial data and its errors, rather than an exception for the first FORBIDDEN field.
  errorPolicy: "all",
});

const signedIn = await client.request(
  gql`mutation Login($input: LoginInput!) { login(input: $input) { token userErrors { message } } }`,
  { input: { username: process.env.SCHOOLGRAPH_USER ?? "coordinator", password: "demo-password-1" } },
);
client.setHeader("authorization", `Bearer ${signedIn.login.token}`);
report("login", { signedIn: Boolean(signedIn.login.token) });

// The README's query, unchanged.
const STUDENTS = gql`
  {
    students(first: 5) {
      totalCount
      edges { node { firstName lastName gradeLevel school { name } email } }
    }
  }
`;
const { data, errors = [], headers, status } = await client.rawRequest(STUDENTS);
report("http", { status, allowOrigin: headers.get("access-control-allow-origin") });
report("students", {
  totalCount: data.students.totalCount,
  rows: data.students.edges.length,
  forbidden: errors
    .filter((e) => e.extensions?.code === "FORBIDDEN")
    .map((e) => ({ path: e.path, fieldClass: e.extensions.fieldClass, reason: e.extensions.reason })),
});

const PAGE = gql`
  query Page($after: String) {
    students(first: 2, after: $after) {
      pageInfo { endCursor hasNextPage }
      edges { node { id lastName } }
    }
  }
`;
const page1 = await client.request(PAGE, { after: null });
const page2 = await client.request(PAGE, { after: page1.students.pageInfo.endCursor });
report("pages", {
  ids: [...page1.students.edges, ...page2.students.edges].map((e) => e.node.id),
});
