// Apollo Client 4.3 (Node 20 or a browser): sign in, the README's query as a persisted query,
// a second page, the FORBIDDEN errors. Run: SCHOOLGRAPH_URL=http://127.0.0.1:8000 node apollo.mjs
import { createHash } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { CombinedGraphQLErrors } from "@apollo/client/errors";
import { SetContextLink } from "@apollo/client/link/context";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const url = `${process.env.SCHOOLGRAPH_URL ?? "http://127.0.0.1:8000"}/graphql`;
// In a browser the page's origin is sent by the browser itself; Node sends what it is told.
const origin = process.env.SCHOOLGRAPH_ORIGIN;
const report = (what, value) => console.log(JSON.stringify({ what, ...value }));

// The fetch the link uses: here it also shows the CORS header a browser would check.
async function fetchAndShow(input, init) {
  const response = await fetch(input, {
    ...init,
    headers: { ...init.headers, ...(origin ? { Origin: origin } : {}) },
  });
  report("http", {
    status: response.status,
    allowOrigin: response.headers.get("access-control-allow-origin"),
  });
  return response;
}

let token = null;
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: ApolloLink.from([
    // Sends the document's SHA-256 first; the document only when the server does not know it.
    createPersistedQueryLink({
      sha256: (text) => createHash("sha256").update(text).digest("hex"),
    }),
    new SetContextLink(({ headers }) => ({
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    })),
    new HttpLink({ uri: url, fetch: fetchAndShow }),
  ]),
});

const LOGIN = gql`
  mutation Login($input: LoginInput!) {
    login(input: $input) { token userErrors { message } }
  }
`;
const signedIn = await client.mutate({
  mutation: LOGIN,
  variables: { input: { username: process.env.SCHOOLGRAPH_USER ?? "coordinator", password: "demo-password-1" } },
});
token = signedIn.data.login.token;
report("login", { signedIn: Boolean(token) });

// The README's query, unchanged.
const STUDENTS = gql`
  {
    students(first: 5) {
      totalCount
      edges { node { firstName lastName gradeLevel school { name } email } }
    }
  }
`;
// errorPolicy "all": the rows come back with the errors of the fields withheld from them.
const first = await client.query({ query: STUDENTS, errorPolicy: "all" });
const errors = CombinedGraphQLErrors.is(first.error) ? first.error.errors : [];
report("students", {
  totalCount: first.data.students.totalCount,
  rows: first.data.students.edges.length,
  forbidden: errors
    .filter((e) => e.extensions?.code === "FORBIDDEN")
    .map((e) => ({ path: e.path, fieldClass: e.extensions.fieldClass, reason: e.extensions.reason })),
});

// Pages: `first` rows after the cursor of the last one.
const PAGE = gql`
  query Page($after: String) {
    students(first: 2, after: $after) {
      pageInfo { endCursor hasNextPage }
      edges { node { id lastName } }
    }
  }
`;
const page1 = await client.query({ query: PAGE, variables: { after: null } });
const page2 = await client.query({
  query: PAGE,
  variables: { after: page1.data.students.pageInfo.endCursor },
});
report("pages", {
  ids: [...page1.data.students.edges, ...page2.data.students.edges].map((e) => e.node.id),
});
