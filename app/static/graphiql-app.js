// SchoolGraph's GraphiQL page: keeps a bearer token in local storage and sends it with every
// request. Sign in through the `login` mutation, or paste a token from `schoolgraph token`.
(function () {
  "use strict";
  var KEY = "schoolgraph.token";
  var DEFAULT_QUERY = [
    "# Sign in above (try admin / demo-password-1), then run this query.",
    "{",
    "  viewer { username roles { role } }",
    "  students(first: 5) {",
    "    totalCount",
    "    edges { node { firstName lastName gradeLevel school { name } } }",
    "  }",
    "}",
    "",
  ].join("\n");

  function token() { return window.localStorage.getItem(KEY); }

  function post(body) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token()) { headers.Authorization = "Bearer " + token(); }
    return fetch("/graphql", { method: "POST", headers: headers, body: JSON.stringify(body) })
      .then(function (response) { return response.json(); });
  }

  function showViewer() {
    var who = document.getElementById("who");
    if (!token()) { who.textContent = "not signed in"; return; }
    post({ query: "{ viewer { username roles { role } } }" }).then(function (result) {
      var viewer = result.data && result.data.viewer;
      who.textContent = viewer
        ? "signed in as " + viewer.username + " (" +
          viewer.roles.map(function (r) { return r.role; }).join(", ") + ")"
        : "token rejected: " + ((result.errors && result.errors[0].message) || "unknown");
    });
  }

  document.getElementById("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    post({
      query: "mutation($input: LoginInput!) { login(input: $input) { token userErrors { message } } }",
      variables: { input: {
        username: document.getElementById("username").value,
        password: document.getElementById("password").value,
      } },
    }).then(function (result) {
      var payload = result.data && result.data.login;
      if (payload && payload.token) {
        window.localStorage.setItem(KEY, payload.token);
        document.getElementById("password").value = "";
      } else {
        window.alert((payload && payload.userErrors[0].message) || "sign-in failed");
      }
      showViewer();
    });
  });

  document.getElementById("token-form").addEventListener("submit", function (event) {
    event.preventDefault();
    window.localStorage.setItem(KEY, document.getElementById("token").value.trim());
    document.getElementById("token").value = "";
    showViewer();
  });

  document.getElementById("signout").addEventListener("click", function () {
    window.localStorage.removeItem(KEY);
    showViewer();
  });

  ReactDOM.render(
    React.createElement(GraphiQL, { fetcher: post, defaultQuery: DEFAULT_QUERY }),
    document.getElementById("graphiql")
  );
  showViewer();
})();
