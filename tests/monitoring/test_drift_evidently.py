"""mlgraph's drift figures against Evidently 0.4.40's own, on the same seeded samples.

Evidently runs in its own virtual environment (tests/monitoring/conftest.py) on the cases of
tests/utils/drift_samples.py, through its own stattest functions, its default choice
(``get_stattest``) and its ``Report`` (``DataDriftTable``, ``DatasetDriftMetric``); every
value must agree to 1e-9 and every choice and verdict must be the same.
"""

from __future__ import annotations

import json
import math
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from monitoring.drift import (
    DEFAULT_THRESHOLDS,
    Column,
    ColumnKind,
    StatTest,
    compare_columns,
    compare_labels,
    default_test,
    run_test,
)
from tests.conftest import AppClient
from tests.utils.api import graphql
from tests.utils.builders import create_random_prediction
from tests.utils.drift_samples import ColumnCase, DatasetCase, column_cases, dataset_cases

SCRIPT = Path(__file__).parent / "evidently_env" / "stattests.py"
TOLERANCE = 1e-9  # absolute, or relative above 1
COLUMN_CASES = column_cases()
DATASET_CASES = dataset_cases()


@pytest.fixture(scope="module")
def evidently(evidently_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Evidently's figures for every case, from one run of the script in its environment."""
    cases = tmp_path_factory.mktemp("evidently") / "cases.json"
    cases.write_text(
        json.dumps(
            {
                "columns": [case.as_json() for case in COLUMN_CASES],
                "datasets": [case.as_json() for case in DATASET_CASES],
            }
        )
    )
    done = subprocess.run(
        [str(evidently_python), str(SCRIPT), str(cases)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def agree(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= TOLERANCE * max(1.0, abs(theirs))


@pytest.mark.parametrize("case", COLUMN_CASES, ids=lambda case: case.id)
def test_each_test_and_the_default_choice_agree(case: ColumnCase, evidently: Any) -> None:
    theirs = evidently["columns"][case.id]
    assert set(theirs["tests"]) == {test.value for test in case.tests}
    assert default_test(case.reference, case.current, kind=case.kind).value == theirs["default"]
    for test in case.tests:
        figure = theirs["tests"][test.value]
        assert DEFAULT_THRESHOLDS[test] == figure["threshold"], test
        ours = run_test(
            test, case.reference, case.current, threshold=figure["threshold"], kind=case.kind
        )
        if math.isnan(figure["value"]):
            # The one figure mlgraph gives on purpose where Evidently has none: chi-square over a
            # single category on both sides is p = 1.0 here (monitoring/drift.py), NaN there.
            assert (test, len({*case.reference, *case.current})) == (StatTest.CHISQUARE, 1)
            assert (ours.value, ours.drifted, figure["drifted"]) == (1.0, False, False)
            continue
        assert agree(ours.value, figure["value"]), (test, ours.value, figure["value"])
        assert ours.drifted == figure["drifted"], (test, ours.value)
        # At a threshold equal to the value: KS and the distances flag it, chi-square and the
        # Z-test do not (Evidently's <= and >= against its <).
        at_value = run_test(
            test, case.reference, case.current, threshold=ours.value, kind=case.kind
        )
        assert at_value.drifted == figure["drifted_at_value"], test


@pytest.mark.parametrize("case", [c for c in COLUMN_CASES if c.label], ids=lambda case: case.id)
def test_labels_take_the_categorical_choice(case: ColumnCase, evidently: Any) -> None:
    theirs = evidently["columns"][case.id]
    label = compare_labels(case.reference, case.current, thresholds=DEFAULT_THRESHOLDS)  # type: ignore[arg-type]
    figure = theirs["tests"][theirs["default"]]
    assert (label.name, label.kind, label.result.test.value) == (
        None,
        ColumnKind.CATEGORICAL,
        theirs["default"],
    )
    assert agree(label.result.value, figure["value"])
    assert label.result.drifted == figure["drifted"]


def test_the_cases_cover_every_choice(evidently: Any) -> None:
    """Every test is somebody's default, for numbers and for categories: a new branch of the
    choice would need a case here."""
    chosen = {(case.kind, evidently["columns"][case.id]["default"]) for case in COLUMN_CASES}
    numerical = {test for kind, test in chosen if kind is ColumnKind.NUMERICAL}
    categorical = {test for kind, test in chosen if kind is ColumnKind.CATEGORICAL}
    assert numerical == {test.value for test in StatTest} - {"psi"}
    assert categorical == {"chisquare", "ztest", "jensenshannon"}


@pytest.mark.parametrize("case", DATASET_CASES, ids=lambda case: case.id)
def test_a_whole_report_agrees_column_by_column(case: DatasetCase, evidently: Any) -> None:
    theirs = evidently["datasets"][case.id]
    kinds = {name: ColumnKind.NUMERICAL for name in case.numerical} | {
        name: ColumnKind.CATEGORICAL for name in case.categorical
    }
    columns = [
        Column(name=name, kind=kind, reference=case.reference[name], current=case.current[name])
        for name, kind in kinds.items()
    ]
    ours = {drift.name: drift for drift in compare_columns(columns, thresholds=DEFAULT_THRESHOLDS)}
    ours["label"] = compare_labels(
        case.reference["label"], case.current["label"], thresholds=DEFAULT_THRESHOLDS
    )
    assert set(ours) == set(theirs["columns"])
    evidently_kinds = {ColumnKind.NUMERICAL: "num", ColumnKind.CATEGORICAL: "cat"}
    for name, drift in ours.items():
        figure = theirs["columns"][name]
        assert (evidently_kinds[drift.kind], drift.result.test.value) == (
            figure["kind"],
            figure["test"],
        )
        assert agree(drift.result.value, figure["value"]), (name, drift.result.value, figure)
        assert (drift.result.threshold, drift.result.drifted) == (
            figure["threshold"],
            figure["drifted"],
        )
    # The dataset: Evidently flags it when at least half of its columns (the label included)
    # drift; mlgraph's report says DRIFTED as soon as one does (README, "Drift").
    drifted = sum(drift.result.drifted for drift in ours.values())
    assert drifted == theirs["number_of_drifted_columns"] >= 1
    assert theirs["share_of_drifted_columns"] == drifted / len(ours)
    assert theirs["dataset_drift"] == (drifted / len(ours) >= 0.5)


DRIFT = """
query($m: String!, $ref: TimeWindow!, $cur: TimeWindow!) {
  drift(modelName: $m, reference: $ref, current: $cur) {
    status features { feature test value threshold drifted } label { test value threshold drifted }
  }
}
"""


async def test_the_drift_query_on_stored_rows_agrees(
    app_client: AppClient, session: AsyncSession, evidently: Any
) -> None:
    """The same rows stored as predictions and read back by the ``drift`` query."""
    (case,) = [case for case in DATASET_CASES if case.id == "stored"]
    theirs = evidently["datasets"]["stored"]
    starts = {
        "reference": datetime(2026, 3, 2, tzinfo=UTC),
        "current": datetime(2026, 3, 3, tzinfo=UTC),
    }
    for window, frame in (("reference", case.reference), ("current", case.current)):
        for i, label in enumerate(frame["label"]):
            await create_random_prediction(
                session,
                created_at=starts[window] + timedelta(seconds=i),
                label=label,
                features=[frame[name][i] for name in case.numerical],
            )
    await session.commit()
    windows = {
        name: {"since": start.isoformat(), "until": (start + timedelta(hours=1)).isoformat()}
        for name, start in starts.items()
    }
    async with app_client() as client:
        body = await graphql(
            client, DRIFT, m="iris", ref=windows["reference"], cur=windows["current"]
        )
    report = body["data"]["drift"]
    columns = {f"f{feature['feature']}": feature for feature in report["features"]}
    columns["label"] = report["label"]
    assert set(columns) == set(theirs["columns"])
    for name, ours in columns.items():
        figure = theirs["columns"][name]
        assert ours["test"] == figure["test"].upper()
        assert agree(ours["value"], figure["value"]), (name, ours["value"], figure["value"])
        assert (ours["threshold"], ours["drifted"]) == (figure["threshold"], figure["drifted"])
    # One drifted column in four: mlgraph's report says so; Evidently's dataset does not drift.
    assert report["status"] == "DRIFTED"
    assert (theirs["number_of_drifted_columns"], theirs["dataset_drift"]) == (1, False)


DRIFT_BY_NAME = """
query($m: String!, $ref: TimeWindow!, $cur: TimeWindow!) {
  drift(modelName: $m, reference: $ref, current: $cur) {
    status features { name kind test value threshold drifted }
    label { test value threshold drifted }
  }
}
"""


@pytest.mark.parametrize(
    "case", [c for c in DATASET_CASES if c.categorical], ids=lambda case: case.id
)
async def test_the_drift_query_on_named_mixed_rows_agrees(
    app_client: AppClient, session: AsyncSession, evidently: Any, case: DatasetCase
) -> None:
    """Rows of numbers and categories stored under their schema and read back by name: the
    ``drift`` query agrees with Evidently's Report column by column."""
    from db import features

    names = [*case.numerical, *case.categorical]
    schema = tuple(
        features.Column(
            name, features.NUMERICAL if name in case.numerical else features.CATEGORICAL
        )
        for name in names
    )
    key = features.schema_id("shop", schema)
    await features.ensure_schemas(session, schemas={key: ("shop", schema)})
    starts = {
        "reference": datetime(2026, 3, 2, tzinfo=UTC),
        "current": datetime(2026, 3, 3, tzinfo=UTC),
    }
    for window, frame in (("reference", case.reference), ("current", case.current)):
        for i, label in enumerate(frame["label"]):
            await create_random_prediction(
                session,
                created_at=starts[window] + timedelta(seconds=i),
                model_name="shop",
                label=label,
                features=[frame[name][i] for name in names],
                schema_id=key,
            )
    await session.commit()
    windows = {
        name: {"since": start.isoformat(), "until": (start + timedelta(hours=1)).isoformat()}
        for name, start in starts.items()
    }
    async with app_client() as client:
        body = await graphql(
            client, DRIFT_BY_NAME, m="shop", ref=windows["reference"], cur=windows["current"]
        )
    assert "errors" not in body, body
    report = body["data"]["drift"]
    theirs = evidently["datasets"][case.id]
    columns = {feature["name"]: feature for feature in report["features"]}
    assert [f["name"] for f in report["features"]] == names
    evidently_kinds = {"num": "NUMERICAL", "cat": "CATEGORICAL"}
    for name, ours in columns.items():
        figure = theirs["columns"][name]
        assert ours["kind"] == evidently_kinds[figure["kind"]]
        assert ours["test"] == figure["test"].upper()
        assert agree(ours["value"], figure["value"]), (name, ours["value"], figure["value"])
        assert (ours["threshold"], ours["drifted"]) == (figure["threshold"], figure["drifted"])
    label = theirs["columns"]["label"]
    assert report["label"]["test"] == label["test"].upper()
    assert agree(report["label"]["value"], label["value"])
    assert report["label"]["drifted"] == label["drifted"]
