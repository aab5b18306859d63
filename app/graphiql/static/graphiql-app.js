// SchoolGraph's GraphiQL page: the sign-in bar, the fetcher, the explorer and the examples pane.
//
// The token from the sign-in bar is kept in local storage and sent as `Authorization: Bearer …`
// unless GraphiQL's Headers pane sets an Authorization of its own, which wins. Every change of
// who is signed in gives GraphiQL a new fetcher, and GraphiQL fetches the schema again with it.
// Problems are shown in the bar, never in a dialog.
(function () {
  "use strict";
  const TOKEN_KEY = "schoolgraph.token";
  const HEADERS_KEY = "graphiql:headers"; // where GraphiQL keeps its Headers pane
  const config = document.body.dataset;
  const production = config.production === "true";
  const demoPassword = config.demoPassword || "";
  const h = React.createElement;
  const $ = (id) => document.getElementById(id);

  const DEFAULT_QUERY = [
    production
      ? "# Sign in above, then run this query (Ctrl-Enter)."
      : "# Sign in above or pick a demo account, then run this query (Ctrl-Enter).",
    "# The Explorer (left) builds a query by clicking; Examples lists queries for your roles.",
    "{",
    "  viewer { username roles { role } }",
    "  students(first: 5) {",
    "    totalCount",
    "    edges { node { displayName gradeLevel school { name } } }",
    "  }",
    "}",
    "",
  ].join("\n");

  // --- state: the bar's token, the Headers pane's Authorization, the viewer ------------------

  const state = {
    token: window.localStorage.getItem(TOKEN_KEY) || "",
    headersAuthorization: authorizationOf(window.localStorage.getItem(HEADERS_KEY)),
    viewer: null,
    examples: [],
  };
  const listeners = new Set();
  function changed() { listeners.forEach((listener) => listener()); }

  function authorizationOf(headersText) {
    if (!headersText || !headersText.trim()) { return ""; }
    try {
      const headers = JSON.parse(headersText);
      const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === "authorization");
      return key ? String(headers[key]) : "";
    } catch (_) {
      return "";
    }
  }

  function signedIn() { return Boolean(state.token || state.headersAuthorization); }

  // --- talking to the API ---------------------------------------------------------------------

  function baseHeaders(token) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) { headers.Authorization = "Bearer " + token; }
    return headers;
  }

  async function post(body, headers) {
    const response = await fetch("/graphql", {
      method: "POST", headers: headers, body: JSON.stringify(body),
    });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (_) {
      return { errors: [{ message: response.status + " " + response.statusText + ": " + text }] };
    }
  }

  // A new fetcher for each token, so that GraphiQL fetches the schema again when it changes.
  function makeFetcher(token) {
    return function fetcher(params, options) {
      const headers = baseHeaders(token);
      const extra = (options && options.headers) || {};
      Object.keys(extra).forEach((key) => {
        if (key.toLowerCase() === "authorization") { delete headers.Authorization; }
        headers[key] = extra[key];
      });
      return post(params, headers);
    };
  }
  let fetcher = makeFetcher(state.token);

  function effectiveHeaders() {
    const headers = baseHeaders(state.token);
    if (state.headersAuthorization) { headers.Authorization = state.headersAuthorization; }
    return headers;
  }

  // --- the sign-in bar --------------------------------------------------------------------------

  function say(text, isError) {
    const message = $("message");
    message.textContent = text;
    message.className = isError ? "error" : "";
  }

  async function showViewer() {
    state.viewer = null;
    if (!signedIn()) {
      $("who").textContent = "not signed in";
      $("signout").hidden = true;
      if (production) { say("Sign in to see the schema and run queries.", false); }
      changed();
      return;
    }
    const result = await post(
      { query: config.whoAmI }, effectiveHeaders()
    );
    const viewer = result.data && result.data.viewer;
    state.viewer = viewer || null;
    $("signout").hidden = !state.token;
    if (viewer) {
      const roles = viewer.roles.map((r) => r.role).join(", ");
      const via = state.headersAuthorization ? " (token from the Headers pane)" : "";
      $("who").textContent = "signed in as " + viewer.username + " (" + roles + ")" + via;
    } else {
      $("who").textContent = "not signed in";
      const reason = (result.errors && result.errors[0] && result.errors[0].message) || "";
      say("The token was not accepted" + (reason ? ": " + reason : "") + ". Sign in again.", true);
    }
    changed();
  }

  function useToken(token) {
    state.token = token;
    if (token) {
      window.localStorage.setItem(TOKEN_KEY, token);
    } else {
      window.localStorage.removeItem(TOKEN_KEY);
    }
    fetcher = makeFetcher(token);
    render();
    return showViewer();
  }

  async function signIn(username, password, otp) {
    say("signing in…", false);
    const input = { username: username, password: password };
    if (otp) { input.otp = otp; }
    const result = await post({
      query: config.signIn,
      variables: { input: input },
    }, baseHeaders(""));
    const payload = result.data && result.data.login;
    if (payload && payload.token) {
      $("password").value = "";
      $("otp").value = "";
      $("otp").hidden = true;
      say("", false);
      await useToken(payload.token);
      return;
    }
    const problem = (payload && payload.userErrors[0]) || (result.errors && result.errors[0]);
    const code = problem && (problem.code || (problem.extensions && problem.extensions.code));
    if (code === "MFA_REQUIRED") {
      $("otp").hidden = false;
      $("otp").focus();
    }
    say((problem && problem.message) || "Sign-in failed.", true);
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("username").value.trim(), $("password").value, $("otp").value.trim());
  });

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim().replace(/^Bearer\s+/i, "");
    $("token").value = "";
    say("", false);
    useToken(token);
  });

  $("signout").addEventListener("click", () => {
    say("", false);
    useToken("");
  });

  const picker = $("demo");
  if (picker) {
    picker.addEventListener("change", () => {
      const username = picker.value;
      picker.value = "";
      if (username) {
        $("username").value = username;
        signIn(username, demoPassword, "");
      }
    });
  }

  // The Headers pane: an Authorization there is the viewer's from then on (after a short pause,
  // so that typing a token does not send one request per key).
  let headersTimer = null;
  function onEditHeaders(text) {
    window.clearTimeout(headersTimer);
    headersTimer = window.setTimeout(() => {
      const authorization = authorizationOf(text);
      if (authorization === state.headersAuthorization) { return; }
      state.headersAuthorization = authorization;
      fetcher = makeFetcher(state.token);
      render();
      showViewer();
    }, 600);
  }

  // --- the examples pane ------------------------------------------------------------------------

  function useStore() {
    const [, setTick] = React.useState(0);
    React.useEffect(() => {
      const listener = () => setTick((n) => n + 1);
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    }, []);
    return state;
  }

  function ExamplesPane() {
    const store = useStore();
    const editors = GraphiQL.React.useEditorContext({ nonNull: true });
    if (!store.viewer) {
      return h("div", { className: "sg-examples" },
        h("div", { className: "graphiql-doc-explorer-title" }, "Examples"),
        h("p", null, "Sign in to see the example queries for your roles."));
    }
    const roles = new Set(store.viewer.roles.map((r) => r.role));
    const mine = store.examples.filter((example) => roles.has(example.role));
    return h("div", { className: "sg-examples" },
      h("div", { className: "graphiql-doc-explorer-title" }, "Examples"),
      h("p", null, "Queries for your roles; a click loads one into the editor."),
      mine.length === 0
        ? h("p", null, "No examples for your roles yet.")
        : h("ul", null, mine.map((example) => h("li", { key: example.role + "/" + example.name },
          h("button", {
            type: "button",
            className: "sg-example",
            "data-example": example.name,
            onClick: () => { editors.queryEditor && editors.queryEditor.setValue(example.query); },
          }, example.title),
          example.description ? h("p", null, example.description) : null))));
  }

  const examplesIcon = () => h("svg", {
    viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", strokeWidth: 1.5, height: "1em",
  }, h("path", { d: "M4 5h16M4 10h16M4 15h10M4 20h7", strokeLinecap: "round" }));

  const plugins = [
    GraphiQLPluginExplorer.explorerPlugin({ showAttribution: false }),
    { title: "Examples", icon: examplesIcon, content: ExamplesPane },
  ];

  fetch("/graphiql/examples.json", { headers: { Accept: "application/json" } })
    .then((response) => response.json())
    .then((examples) => { state.examples = examples; changed(); })
    .catch(() => say("The example queries could not be loaded.", true));

  // --- GraphiQL -----------------------------------------------------------------------------------

  // The explorer is open on a first visit; afterwards GraphiQL remembers what was open.
  const firstPlugin = window.localStorage.getItem("graphiql:visiblePlugin") === null
    ? plugins[0] : undefined;
  const root = ReactDOM.createRoot($("graphiql"));
  function render() {
    root.render(h(GraphiQL, {
      fetcher: fetcher,
      // Production answers no introspection to anonymous callers: no schema, no error, until
      // someone signs in (the bar says so).
      schema: production && !signedIn() ? null : undefined,
      defaultQuery: DEFAULT_QUERY,
      shouldPersistHeaders: true,
      onEditHeaders: onEditHeaders,
      plugins: plugins,
      visiblePlugin: firstPlugin,
      isHeadersEditorEnabled: true,
    }));
  }
  render();
  showViewer();
})();
