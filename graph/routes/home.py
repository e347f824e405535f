"""``GET /``: a small page linking everything mlgraph serves; ``/docs`` redirects to it.

The example operations are written for the configured default model, with dates computed when
the page is asked for, so each one runs as shown. With GraphiQL on, each opens in GraphiQL with
the operation filled in; with it off, the page says so and shows the operations as text. The
page is self-contained: no script, no stylesheet or font from anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

__all__ = ["Example", "docs", "examples", "home"]


@dataclass(frozen=True)
class Example:
    """One GraphQL operation the front page offers."""

    title: str
    description: str
    query: str


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def examples(model: str, now: datetime) -> list[Example]:
    """The front page's operations for ``model``, with windows that end around ``now``."""
    model_name = model.replace("\\", "\\\\").replace('"', '\\"')
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    until = _iso(hour + timedelta(hours=1))  # the current hour, whole
    day = _iso(hour - timedelta(hours=23))
    recent = _iso(now - timedelta(hours=1))
    return [
        Example(
            "Classify two flowers",
            "Calls the model and stores one prediction per row (rows for the example iris model: "
            "sepal length, sepal width, petal length, petal width).",
            f"""mutation Classify {{
  classify(input: {{modelName: "{model_name}",
                   rows: [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}) {{
    predictions {{ id createdAt modelName modelVersion label latencyMs
                  probabilities {{ label probability }} }}
  }}
}}
""",
        ),
        Example(
            "The latest predictions",
            "History, newest first, ten per page; pass after: pageInfo.endCursor for the next.",
            f"""query LatestPredictions {{
  predictions(modelName: "{model_name}", first: 10) {{
    edges {{ cursor node {{ id createdAt label features }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
""",
        ),
        Example(
            "Predictions per hour, last 24 hours",
            "Counts, latency and the label mix per hour (what the dashboard draws).",
            f"""query HourlyStats {{
  predictionStats(modelName: "{model_name}", since: "{day}", until: "{until}", bucket: HOUR) {{
    start count meanLatencyMs p95LatencyMs labels {{ label count }}
  }}
}}
""",
        ),
        Example(
            "Accuracy where actuals exist",
            "Per day, over the predictions whose real outcome was recorded (recordActual).",
            f"""query Accuracy {{
  performance(modelName: "{model_name}", since: "{day}", until: "{until}", bucket: DAY) {{
    start predictions withActuals accuracy classes {{ label precision recall }}
  }}
}}
""",
        ),
        Example(
            "Drift: the last hour against the day before",
            "Per feature and for the label: the test, its value (a p-value or a distance), "
            "the threshold and the verdict.",
            f"""query Drift {{
  drift(modelName: "{model_name}",
        reference: {{since: "{day}", until: "{recent}"}},
        current: {{since: "{recent}", until: "{until}"}}) {{
    status message referenceCount currentCount
    features {{ feature test value threshold drifted }}
    label {{ test value threshold drifted }}
  }}
}}
""",
        ),
        Example(
            "The models",
            "Every configured model, with a live readiness check.",
            """query Models {
  models { name protocol isDefault ready featureCount }
}
""",
        ),
        Example(
            "A live feed",
            "Each prediction as it is committed (graphql-transport-ws at /graphql); classify "
            "in another tab to see it arrive.",
            f"""subscription Live {{
  predictionAdded(modelName: "{model_name}") {{
    cursor prediction {{ id createdAt label latencyMs }}
  }}
}}
""",
        ),
    ]


STYLE = """
body { margin: 0 auto; max-width: 860px; padding: 16px 20px 40px;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2433; }
h1 { color: #3867d6; margin-bottom: 0; } h2 { font-size: 17px; margin-top: 28px; }
.lead { color: #6b7385; margin-top: 4px; }
code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; }
pre { background: #f5f6fa; border: 1px solid #e3e6ee; border-radius: 4px; padding: 8px 10px;
      overflow-x: auto; }
li { margin: 6px 0; } .note { color: #6b7385; } .off { color: #d63848; }
"""


def _page(request: Request) -> str:
    settings = request.state.settings
    model = request.state.models.get(None).name
    graphiql = settings.graphiql
    items = []
    for example in examples(model, datetime.now(UTC)):
        if graphiql:
            # In the fragment: graph/static/graphiql/graphiql.js reads it (a ?query= would be
            # run as a GraphQL GET instead of opening GraphiQL).
            link = "graphql#" + urlencode({"query": example.query})
            title = f'<a class="example" href="{escape(link)}">{escape(example.title)}</a>'
        else:
            title = f'<span class="example">{escape(example.title)}</span>'
        # Without GraphiQL the text is what there is to copy: shown, not folded.
        folded = "<details>" if graphiql else "<details open>"
        items.append(
            f"<li>{title}: {escape(example.description)}"
            f"{folded}<summary>the operation</summary><pre>{escape(example.query)}</pre>"
            "</details></li>"
        )
    if graphiql:
        explore = (
            '<li><a id="graphiql" href="graphql">GraphiQL</a>: write and run GraphQL with '
            "completion, the schema's docs and an explorer; put an API key in its Headers tab "
            'as <code>{"authorization": "Bearer mlg_…"}</code>.</li>'
        )
        intro = "Each opens in GraphiQL with the operation filled in:"
    else:
        base = escape(str(request.base_url).rstrip("/"))
        explore = (
            '<li id="graphiql-off" class="off">GraphiQL is switched off on this server '
            "(<code>MLGRAPH_GRAPHIQL=false</code>). Send GraphQL as JSON in a "
            "<code>POST</code> to <code>/graphql</code>, e.g. with curl:"
            f"<pre>curl -s {base}/graphql -H 'content-type: application/json' \\\n"
            """  -d '{"query": "{ models { name ready } }"}'</pre></li>"""
        )
        intro = "Send them to <code>POST /graphql</code>:"
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>mlgraph</title>
  <link rel="icon" href="data:,">
  <style>{STYLE}</style>
</head>
<body>
  <h1>mlgraph</h1>
  <p class="lead">A GraphQL gateway to the model <code>{escape(model)}</code> that stores every
  prediction for monitoring.</p>
  <h2>Explore</h2>
  <ul>
    {explore}
    <li><a id="dashboard" href="dashboard/">Dashboard</a>: predictions per hour, latency,
    accuracy, drift and a live feed (<code>mlgraph demo-traffic</code> fills it and prints a
    link with its drift window).</li>
  </ul>
  <h2>Example operations</h2>
  <p>{intro}</p>
  <ul id="examples">
    {"".join(items)}
  </ul>
  <h2>Operations</h2>
  <ul>
    <li><a id="metrics" href="metrics">/metrics</a>: Prometheus metrics.</li>
    <li><a id="healthz" href="healthz">/healthz</a>: the process is up (liveness).</li>
    <li><a id="readyz" href="readyz">/readyz</a>: the database and every model answer
    (readiness; 503 names what is down).</li>
  </ul>
  <p class="note">More in mlgraph's README (Examples, Monitoring, Dashboard, Errors, Settings)
  and <code>mlgraph --help</code>.</p>
</body>
</html>
"""


async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(_page(request))


async def docs(request: Request) -> RedirectResponse:
    """``/docs``, where many services keep theirs: the front page lists what there is."""
    return RedirectResponse(request.url_for("home"), status_code=307)
