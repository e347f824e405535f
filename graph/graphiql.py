"""The GraphiQL page at ``/graphql``, served with every file it loads.

Strawberry's own page loads React, GraphiQL and the explorer plugin from a public CDN, which
clusters without internet access cannot reach (the page stays "Loading..."). This one loads
them from ``/graphql/static/``: graph/static/graphiql/, whose vendor/ folder
scripts/vendor_graphiql.py fills from the npm registry at pinned versions.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS_DIR", "ASSETS_PATH", "assets", "graphiql_page"]

ASSETS_DIR = Path(__file__).parent / "static" / "graphiql"
ASSETS_PATH = "/graphql/static"

# Relative links, so that the page also works behind a proxy that serves mlgraph under a prefix.
_STATIC = ASSETS_PATH.lstrip("/")
PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>mlgraph · GraphiQL</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{_STATIC}/vendor/graphiql.min.css">
  <link rel="stylesheet" href="{_STATIC}/vendor/plugin-explorer.css">
  <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <noscript>GraphiQL needs JavaScript. Without it, POST GraphQL to this URL.</noscript>
  <script src="{_STATIC}/vendor/react.production.min.js"></script>
  <script src="{_STATIC}/vendor/react-dom.production.min.js"></script>
  <script src="{_STATIC}/vendor/graphiql.min.js"></script>
  <script src="{_STATIC}/vendor/plugin-explorer.min.js"></script>
  <script src="{_STATIC}/graphiql.js"></script>
</body>
</html>
"""

# What the browser may load, as a second guard against anything from elsewhere. GraphiQL's
# components set inline styles, hence 'unsafe-inline' for styles (never for scripts); its
# fonts and icons are data: URIs in its CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


def graphiql_page() -> HTMLResponse:
    """The IDE's HTML (Strawberry's ``render_graphql_ide`` returns it)."""
    return HTMLResponse(PAGE, headers={"content-security-policy": CONTENT_SECURITY_POLICY})


def assets() -> StaticFiles:
    """The page's scripts and styles, to mount at ``ASSETS_PATH``."""
    return StaticFiles(directory=ASSETS_DIR)
