"""deploy/grafana/mlgraph.json: every PromQL expression names only metrics mlgraph exports.

The names come from /metrics of a running app after one classify (so the histograms have
samples), not from a list kept here: renaming a metric breaks this test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, graphql

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "mlgraph.json"
MODEL = httpx.MockTransport(
    lambda request: httpx.Response(200, json={"data": {"ndarray": ["setosa"] * 3}})
)

# PromQL words that look like metric names but are not.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names (inside {}, by (...), without (...)), ranges or Grafana variables."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    expr = re.sub(r"(?<![\w:])\d+(?:\.\d+)?(?:ms|[smhdwy])?", "", expr)  # numbers, durations
    names = set()
    for match in _IDENTIFIER.finditer(expr):
        rest = expr[match.end() :].lstrip()
        if rest.startswith("(") or match.group() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def expressions(dashboard: dict[str, Any]) -> list[str]:
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            # Grafana's label_values(selector, label): the label is not a metric.
            found.append(re.sub(r"^label_values\((.+),\s*\w+\)$", r"\1", query))
    return found


async def exported_names(client: httpx.AsyncClient) -> set[str]:
    """Every series name at /metrics: the samples, plus each counter and gauge declared by a
    # TYPE line (a labelled one has no sample until it is first set)."""
    text = (await client.get("/metrics")).text
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            if kind in ("counter", "gauge"):
                names.add(name)
        elif line and not line.startswith("#"):
            names.add(_IDENTIFIER.match(line).group())  # type: ignore[union-attr]
    return names


def test_metric_names_parses_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{model=~"$model", x="y"}'
        "[$__rate_interval]))) / ignoring(code) b_total offset 5m + on (le) c"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


async def test_dashboard_queries_only_exported_metrics(app_client: AppClient) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    async with app_client(transport=MODEL, model_version="v1") as client:
        body = await graphql(client, CLASSIFY, rows=IRIS_ROWS)
        assert "errors" not in body
        exported = await exported_names(client)
    assert "mlgraph_classify_model_seconds_bucket" in exported

    exprs = expressions(dashboard)
    used = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{expr!r} uses {sorted(unknown)}, not exported by mlgraph"
        used |= names
    # What the dashboard is for: each of these is charted.
    assert {
        "mlgraph_graphql_operations_total",
        "mlgraph_classify_model_seconds_bucket",
        "mlgraph_classify_db_seconds_bucket",
        "mlgraph_predictions_total",
        "mlgraph_model_errors_total",
        "mlgraph_db_pool_connections",
        "mlgraph_drift_score",
        "mlgraph_drift_detected",
    } <= used
    quantiles = [e for e in exprs if e.startswith("histogram_quantile(")]
    assert len(quantiles) == 4, "p50 and p95 of the model call and of the database write"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_drift_panels_keep_the_gauges_labels_and_show_feature_names() -> None:
    from graph.metrics import DRIFT_DETECTED, DRIFT_SCORE

    dashboard = json.loads(DASHBOARD.read_text())
    gauges = {"mlgraph_drift_score": DRIFT_SCORE, "mlgraph_drift_detected": DRIFT_DETECTED}
    seen = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name, gauge in gauges.items():
                if name not in target["expr"]:
                    continue
                seen.add(name)
                (grouped,) = re.findall(r"by \(([^)]*)\)", target["expr"])
                labels = {label.strip() for label in grouped.split(",")}
                # Grouping by every label keeps each column a series of its own.
                assert labels == set(gauge._labelnames), target["expr"]
                assert "{{name}}" in target["legendFormat"]
    assert seen == set(gauges)
