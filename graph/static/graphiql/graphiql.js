// Starts GraphiQL on mlgraph's /graphql page. React, GraphiQL and the explorer plugin come from
// vendor/ beside this file (scripts/vendor_graphiql.py), never from a CDN: clusters without
// internet access get the same page.
"use strict";

(function () {
  const endpoint = new URL(location.pathname, location.href);
  const socket = new URL(endpoint);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  // Links carry an operation in the fragment (graphql#query=...&variables=...): a ?query=
  // would make the request itself a GraphQL GET, and the fragment never reaches server logs.
  const params = new URLSearchParams(location.hash.slice(1));

  // The dashboard keeps the key under the same name: one typed in either works in both.
  const KEY_STORAGE = "mlgraph-api-key";

  const DEFAULT_QUERY = `# mlgraph's GraphQL API: run with Ctrl-Enter or the play button.
# The explorer (sidebar) builds operations field by field.
# With API keys on, put yours in the Headers tab:
#   {"authorization": "Bearer mlg_..."}

query Models {
  models { name protocol isDefault ready featureCount }
}
`;

  // The headers of the latest operation, as typed in the header editor.
  let headers = {};

  function authorization(from) {
    for (const [name, value] of Object.entries(from || {})) {
      if (name.toLowerCase() === "authorization") return String(value);
    }
    return null;
  }

  // The key stays for this browser tab (sessionStorage), never in localStorage: pages opened
  // from the front page's examples start with it in their header editor.
  function rememberKey(text) {
    let typed;
    try {
      typed = JSON.parse(text || "{}");
    } catch {
      return; // half-typed JSON
    }
    const value = authorization(typed);
    const key = value && value.replace(/^Bearer\s+/i, "");
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  }

  const storedKey = sessionStorage.getItem(KEY_STORAGE);
  const initialHeaders = storedKey
    ? JSON.stringify({ authorization: `Bearer ${storedKey}` }, null, 2)
    : undefined;

  const http = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: socket.href,
    // Browsers cannot set headers on a WebSocket, so mlgraph reads the key from the
    // graphql-transport-ws connection_init payload. graphql-ws calls this on every connect
    // (it connects lazily, for the first subscription), so the key in use is the latest typed.
    wsConnectionParams: () => {
      const key = authorization(headers);
      return key ? { authorization: key } : {};
    },
  });

  function fetcher(graphQLParams, options) {
    headers = (options && options.headers) || {};
    return http(graphQLParams, options);
  }

  // An operation from a link (the front page's examples) opens in a tab of its own.
  const props = {
    fetcher,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: params.has("variables") ? "variables" : true,
    isHeadersEditorEnabled: true,
    headers: initialHeaders,
    defaultHeaders: initialHeaders,
    onEditHeaders: rememberKey,
    // GraphiQL would keep headers in localStorage, for good; unless the user turns it on in
    // its settings, the key lives only in this tab's session (above).
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
  };
  if (params.has("query")) props.query = params.get("query");
  if (params.has("variables")) props.variables = params.get("variables");

  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
