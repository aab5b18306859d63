#!/bin/sh
# curl: sign in, the README's query by its SHA-256 (GET), the next page, the FORBIDDEN errors.
# Run: SCHOOLGRAPH_URL=http://127.0.0.1:8000 sh curl.sh
set -eu
URL=${SCHOOLGRAPH_URL:-http://127.0.0.1:8000}/graphql
ORIGIN=${SCHOOLGRAPH_ORIGIN:-http://localhost:3000}  # as a browser page on that origin would

# Sign in: the token is data.login.token.
TOKEN=$(curl -s "$URL" -H 'Content-Type: application/json' -H "Origin: $ORIGIN" \
  -d '{"query": "mutation { login(input: {username: \"coordinator\", password: \"demo-password-1\"}) { token } }"}' \
  | sed -E 's/.*"token":"([^"]+)".*/\1/')

# The README's query, and its SHA-256 (of exactly the text sent).
QUERY='{ students(first: 5) { totalCount edges { node { firstName lastName gradeLevel school { name } email } } } }'
HASH=$(printf '%s' "$QUERY" | sha256sum | cut -d ' ' -f 1)
PERSISTED="{\"persistedQuery\": {\"version\": 1, \"sha256Hash\": \"$HASH\"}}"

# Once with the document (the server keeps it; in allow-list mode it must be registered) ...
curl -s "$URL" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"query\": \"$QUERY\", \"extensions\": $PERSISTED}" > /dev/null
# ... then by hash alone, over GET. -D - prints the headers: Access-Control-Allow-Origin.
echo '# students by hash'
curl -s -G "$URL" -D - -H "Authorization: Bearer $TOKEN" -H "Origin: $ORIGIN" \
  --data-urlencode "extensions=$PERSISTED"
echo

# Pages: the next one starts after the last cursor of this one.
PAGE='query($after: String) { students(first: 2, after: $after) { pageInfo { endCursor hasNextPage } edges { node { id } } } }'
FIRST=$(curl -s "$URL" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"query\": \"$PAGE\"}")
CURSOR=$(printf '%s' "$FIRST" | sed -E 's/.*"endCursor":"([^"]+)".*/\1/')
echo '# page 1'
echo "$FIRST"
echo '# page 2'
curl -s "$URL" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"query\": \"$PAGE\", \"variables\": {\"after\": \"$CURSOR\"}}"
echo
