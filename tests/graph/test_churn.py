"""A real tabular model with categories, end to end: the churn Pipeline (OneHotEncoder on two
string columns, scaled numbers; deploy/model/ChurnClassifier.py) served for real by the
seldon-core microservice (names and a mixed ndarray) and by MLServer (pandas content type),
classified by records and by rows, then featureStats, drift and the export read back with
pandas and fitted by the pipeline itself."""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from graph.cli import main
from scripts.modelserver import MODEL_DIR, ModelServer, predict_labels
from tests.conftest import AppClient
from tests.utils.api import error_codes, graphql

NAMES = ["tenure", "monthly_charges", "contract", "region"]
KINDS = ["NUMERICAL", "NUMERICAL", "CATEGORICAL", "CATEGORICAL"]
CLASSES = ["churn", "stay"]
CONTRACTS = ["monthly", "yearly", "two-year"]
REGIONS = ["north", "south", "east", "west"]
OUT = "predictions { label features record probabilities { label probability } }"
BY_RECORDS = f"""mutation($records: [FeatureRecord!]!) {{
  classify(input: {{modelName: "churn", records: $records}}) {{ {OUT} }} }}"""
BY_ROWS = f"""mutation($rows: [[FeatureValue!]!]!) {{
  classify(input: {{modelName: "churn", mixedRows: $rows}}) {{ {OUT} }} }}"""
MODELS = "{ models { name featuresFrom features { name kind } } }"
STATS = """query($since: DateTime!, $until: DateTime!) {
  featureStats(modelName: "churn", since: $since, until: $until, quantiles: [0.5], top: 2) {
    name kind index count mean quantiles { value } distinct top { value count share } } }"""
DRIFT = """query($ref: TimeWindow!, $cur: TimeWindow!) {
  drift(modelName: "churn", reference: $ref, current: $cur) {
    status features { name kind feature test value drifted } label { test value } } }"""


def _customers(
    count: int, seed: int, *, contract: str | None = None, tenure: tuple[int, int] = (1, 72)
) -> list[list[Any]]:
    """Rows of the four features, in schema order: integer months, charges, two categories."""
    rng = random.Random(seed)
    return [
        [
            rng.randint(*tenure),
            round(rng.uniform(20, 120), 2),
            contract or rng.choice(CONTRACTS),
            rng.choice(REGIONS),
        ]
        for _ in range(count)
    ]


@pytest.fixture(params=["seldon", "mlserver"])
def churn(request: pytest.FixtureRequest) -> tuple[ModelServer, dict[str, Any]]:
    """The churn model on one real server and the settings naming it ``churn``. Neither names
    its features in the settings: each server's metadata declares them."""
    if request.param == "seldon":
        server: ModelServer = request.getfixturevalue("churn_seldon")
        return server, {"models": [{"name": "churn", "url": server.url}]}
    server = request.getfixturevalue("mlserver")
    model = {"name": "churn", "protocol": "v2", "url": server.url, "class_names": CLASSES}
    return server, {"models": [model]}


def _labels(body: dict[str, Any]) -> list[str]:
    assert "errors" not in body, body
    return [p["label"] for p in body["data"]["classify"]["predictions"]]


async def test_labels_are_the_pipelines_own_by_records_and_by_rows(
    app_client: AppClient, churn: tuple[ModelServer, dict[str, Any]]
) -> None:
    server, settings = churn
    rows = _customers(40, seed=1)
    expected = predict_labels(server, "churn", rows, NAMES)
    assert set(expected) == set(CLASSES)  # both classes occur: the check can fail
    records = [dict(zip(NAMES, row, strict=True)) for row in rows]
    async with app_client(**settings) as client:
        listing = await graphql(client, MODELS)
        by_records = await graphql(client, BY_RECORDS, records=records[:20])
        by_rows = await graphql(client, BY_ROWS, rows=rows[20:])
        wrong = await graphql(client, BY_ROWS, rows=[[3, 95.5, 12, "north"]])
    assert listing["data"]["models"] == [
        {
            "name": "churn",
            "featuresFrom": "METADATA",
            "features": [{"name": n, "kind": k} for n, k in zip(NAMES, KINDS, strict=True)],
        }
    ]
    assert _labels(by_records) + _labels(by_rows) == expected
    predictions = by_records["data"]["classify"]["predictions"]
    for prediction, row in zip(predictions, rows, strict=False):
        assert prediction["features"] == [float(row[0]), row[1], row[2], row[3]]
        assert list(prediction["record"]) == NAMES
        probabilities = {c["label"]: c["probability"] for c in prediction["probabilities"]}
        assert list(probabilities) == CLASSES
        assert max(probabilities, key=probabilities.__getitem__) == prediction["label"]
    assert error_codes(wrong) == ["BAD_USER_INPUT"]
    assert "feature 'contract' is categorical" in wrong["errors"][0]["message"]


async def test_feature_stats_drift_and_the_export_as_a_training_set(
    app_client: AppClient,
    churn: tuple[ModelServer, dict[str, Any]],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, settings = churn
    reference = _customers(60, seed=2)
    # Same charges and regions (same seed), but short tenures on monthly contracts only.
    current = [
        [low[0], *row[1:2], "monthly", row[3]]
        for low, row in zip(
            _customers(60, seed=3, tenure=(1, 6)), _customers(60, seed=2), strict=True
        )
    ]
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with app_client(**settings, drift_min_rows=20) as client:
        _labels(await graphql(client, BY_ROWS, rows=reference))
        await asyncio.sleep(0.05)
        middle = datetime.now(UTC)
        await asyncio.sleep(0.05)
        _labels(await graphql(client, BY_ROWS, rows=current))
        until = datetime.now(UTC) + timedelta(seconds=1)
        window = {"since": since.isoformat(), "until": middle.isoformat()}
        stats = await graphql(client, STATS, **window)
        report = await graphql(
            client,
            DRIFT,
            ref=window,
            cur={"since": middle.isoformat(), "until": until.isoformat()},
        )
    assert "errors" not in stats, stats
    by_name = {f["name"]: f for f in stats["data"]["featureStats"]}
    assert [f["name"] for f in stats["data"]["featureStats"]] == NAMES
    tenure = [float(r[0]) for r in reference]
    assert by_name["tenure"]["kind"] == "NUMERICAL"
    assert by_name["tenure"]["mean"] == pytest.approx(np.mean(tenure))
    assert by_name["tenure"]["quantiles"] == [{"value": pytest.approx(np.quantile(tenure, 0.5))}]
    contracts = Counter(r[2] for r in reference)
    contract = by_name["contract"]
    assert (contract["kind"], contract["count"], contract["distinct"]) == ("CATEGORICAL", 60, 3)
    assert contract["mean"] is None
    ranked = sorted(contracts.items(), key=lambda item: (-item[1], item[0]))[:2]
    assert [(t["value"], t["count"]) for t in contract["top"]] == ranked
    assert contract["top"][0]["share"] == pytest.approx(ranked[0][1] / 60)

    assert "errors" not in report, report
    drift = report["data"]["drift"]
    assert drift["status"] == "DRIFTED"
    columns = {f["name"]: f for f in drift["features"]}
    assert [(f["name"], f["kind"], f["feature"]) for f in drift["features"]] == [
        (n, k, i) for i, (n, k) in enumerate(zip(NAMES, KINDS, strict=True))
    ]
    assert (columns["tenure"]["test"], columns["tenure"]["drifted"]) == ("KS", True)
    assert (columns["contract"]["test"], columns["contract"]["drifted"]) == ("CHISQUARE", True)
    # Identical samples in both windows: nothing to flag.
    assert (columns["region"]["test"], columns["region"]["value"]) == ("CHISQUARE", 1.0)
    assert columns["monthly_charges"]["drifted"] is False

    monkeypatch.setenv("MLGRAPH_DATABASE_URL", database_url)
    out = tmp_path / "churn.parquet"
    argv = ["export", "--since", since.isoformat(), "--until", until.isoformat()]
    assert await asyncio.to_thread(main, [*argv, "--model", "churn", "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert len(frame) == 120
    assert [str(frame[n].dtype) for n in NAMES[:2]] == ["float64", "float64"]
    assert all(isinstance(v, str) for n in NAMES[2:] for v in frame[n])
    assert list(frame.columns[-5:]) == [
        "label",
        "proba_churn",
        "proba_stay",
        "latency_ms",
        "actual",
    ]
    ordered = frame.sort_values(["created_at", "row_index"])
    assert ordered[NAMES].values.tolist() == [
        [float(r[0]), r[1], r[2], r[3]] for r in reference + current
    ]
    # The model's own fit takes the export as it is: the ColumnTransformer picks its columns.
    sys.path.insert(0, str(MODEL_DIR))
    try:
        from ChurnClassifier import train  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(MODEL_DIR))
    refit = train().fit(frame, frame["label"])
    assert list(refit.classes_) == CLASSES
    assert len(refit.predict(frame)) == len(frame)
