"""``mlgraph demo-traffic`` against a real ``mlgraph serve``: predictions, drift and actuals."""

from __future__ import annotations

import random
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from graph.cli import main
from graph.cli.demo_traffic import IRIS, progress, sample_row
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


def test_progress_is_by_count_or_by_time_whichever_ends_first() -> None:
    assert progress(sent=600, count=1200, elapsed=10, duration=300) == 0.5
    assert progress(sent=100, count=1200, elapsed=240, duration=300) == 0.8
    assert progress(sent=1300, count=1200, elapsed=1, duration=300) == 1.0
    assert progress(sent=0, count=0, elapsed=0, duration=0) == 1.0


COUNTS = """
query ($since: DateTime!, $until: DateTime!) {
  predictionStats(modelName: "iris", since: $since, until: $until, bucket: WEEK) { count }
}
"""


def test_a_run_ended_by_its_duration_still_drifts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--duration with the default --count: at 20 calls/s a 2 s run sends at most 160 of the
    1200 rows, so drift must start by time (at 70 % of it), not after row 840."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'mlgraph.db'}"
    migrate(database_url, "head")
    with (
        stub_model() as model_url,
        serve_mlgraph(database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_url) as base,
    ):
        assert main(["demo-traffic", "--url", base, "--duration", "2", "--rate", "20"]) == 0
        out = capsys.readouterr().out
        [normal] = re.findall(r"^(\d+) predictions sent; features drift", out, re.M)
        [link] = re.findall(r"^dashboard: (\S+)$", out, re.M)
        drift_from = parse_qs(urlsplit(link).query)["driftFrom"][0]
        windows = {
            "before": {"since": "2000-01-01T00:00:00Z", "until": drift_from},
            "after": {"since": drift_from, "until": "2100-01-01T00:00:00Z"},
        }
        counts = {
            name: sum(
                bucket["count"]
                for bucket in httpx.post(
                    base + "/graphql", json={"query": COUNTS, "variables": window}
                ).json()["data"]["predictionStats"]
            )
            for name, window in windows.items()
        }
    [sent] = re.findall(r"^done: (\d+) predictions", out, re.M)
    assert int(sent) < 1200  # the duration ended it
    assert counts["before"] == int(normal) > 0
    assert counts["after"] == int(sent) - int(normal) > 0
