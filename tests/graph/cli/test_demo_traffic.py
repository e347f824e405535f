"""``mlgraph demo-traffic`` against a real ``mlgraph serve``: predictions, drift and actuals."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from graph.cli import main
from graph.cli.demo_traffic import IRIS, sample_row
from tests.utils.migrations import migrate
from tests.utils.serve import serve_mlgraph, stub_model

STATS = """
query ($since: DateTime!, $until: DateTime!) {
  predictionStats(modelName: "iris", since: $since, until: $until, bucket: WEEK) { count }
  performance(modelName: "iris", since: $since, until: $until, bucket: WEEK) { withActuals }
}
"""


def test_drifted_rows_move_the_features() -> None:
    rng = random.Random(1)
    normal = [sample_row(rng, "setosa", drifted=False) for _ in range(200)]
    drifted = [sample_row(rng, "setosa", drifted=True) for _ in range(200)]
    mean = IRIS["setosa"][0]
    assert sum(r[2] for r in normal) / 200 == pytest.approx(mean[2], abs=0.05)
    assert sum(r[2] for r in drifted) / 200 > mean[2] + 1


def test_demo_traffic_sends_predictions_and_actuals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'mlgraph.db'}"
    migrate(database_url, "head")
    with (
        stub_model() as model_url,
        serve_mlgraph(database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_url) as base,
    ):
        argv = ["demo-traffic", "--url", base, "--count", "40", "--batch", "4", "--rate", "0"]
        assert main([*argv, "--actuals", "1", "--seed", "7"]) == 0
        variables = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
        body = httpx.post(base + "/graphql", json={"query": STATS, "variables": variables}).json()
    assert sum(b["count"] for b in body["data"]["predictionStats"]) == 40
    assert sum(b["withActuals"] for b in body["data"]["performance"]) == 40
    out = capsys.readouterr().out
    assert "features drift from now on" in out
    assert f"{base}/dashboard/?" in out


def test_demo_traffic_without_mlgraph_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-traffic", "--url", "http://127.0.0.1:9", "--count", "4"]) == 1
    assert "is it running" in capsys.readouterr().err
