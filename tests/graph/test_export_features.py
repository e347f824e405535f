"""The export as a training set: a typed column per feature name, a column per class, and a clear
refusal when the range's rows cannot share one table."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import db
from db.features import CATEGORICAL, Column
from db.predictions import NewCall, NewPrediction, store_calls
from graph.cli import main
from tests.conftest import AppClient

SINCE = datetime(2000, 1, 1, tzinfo=UTC)
UNTIL = datetime.now(UTC) + timedelta(days=1)
CHURN = (Column("tenure"), Column("contract", CATEGORICAL))
IRIS = (Column("sepal_length"), Column("sepal_width"))


def _call(model: str, schema: tuple[Column, ...], rows: list[list[float | str]]) -> NewCall:
    classes = ["churn", "stay"] if model == "churn" else ["setosa", "virginica"]
    predictions = [
        NewPrediction(
            features=row,
            label=classes[0],
            probabilities=dict(zip(classes, [0.7, 0.3], strict=True)),
        )
        for row in rows
    ]
    return NewCall(predictions, model, "v1", 1.0, schema=schema)


async def _store(session: AsyncSession, *calls: NewCall) -> None:
    await store_calls(session, calls=list(calls))
    await session.commit()


def _export(database_url: str, out: Path, *options: str) -> int:
    argv = ["export", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    return main([*argv, *options, "--out", str(out)])


async def test_rows_of_two_models_get_a_column_per_feature_and_class(
    session: AsyncSession, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _store(
        session,
        _call("churn", CHURN, [[3, "monthly"], [40, "1"]]),
        _call("iris", IRIS, [[5.1, 3.5]]),
    )
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", database_url)
    out = tmp_path / "all.parquet"
    assert await asyncio.to_thread(_export, database_url, out) == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == [
        "id", "created_at", "model_name", "model_version", "request_id", "row_index",
        "tenure", "contract", "sepal_length", "sepal_width", "label",
        "proba_churn", "proba_stay", "proba_setosa", "proba_virginica", "latency_ms", "actual",
    ]  # fmt: skip
    assert str(frame["tenure"].dtype) == "float64"
    churn = frame[frame["model_name"] == "churn"].sort_values("tenure")
    assert churn["contract"].tolist() == ["monthly", "1"]  # the category "1" stays text
    assert churn["proba_churn"].tolist() == [0.7, 0.7]
    assert churn["sepal_length"].isna().all()
    assert churn["proba_setosa"].isna().all()
    iris = frame[frame["model_name"] == "iris"]
    assert iris["sepal_length"].tolist() == [5.1]
    assert iris["tenure"].isna().all()

    # --model keeps one model's columns only.
    one = tmp_path / "churn.csv"
    assert (
        await asyncio.to_thread(_export, database_url, one, "--model", "churn", "--format", "csv")
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(one.read_text())))
    assert list(rows[0]) == [
        "id", "created_at", "model_name", "model_version", "request_id", "row_index",
        "tenure", "contract", "label", "proba_churn", "proba_stay", "latency_ms", "actual",
    ]  # fmt: skip
    assert sorted((float(r["tenure"]), r["contract"]) for r in rows) == [
        (3.0, "monthly"),
        (40.0, "1"),
    ]


@pytest.mark.parametrize(
    ("schemas", "message"),
    [
        pytest.param(
            [("churn", CHURN), ("churn2", (Column("tenure", CATEGORICAL), Column("contract")))],
            "feature 'tenure' is numerical in some rows and categorical in others",
            id="one-name-two-kinds",
        ),
        pytest.param(
            [("churn", (Column("label", CATEGORICAL), Column("contract", CATEGORICAL)))],
            "feature 'label' has the name of one of the export's own columns",
            id="metadata-name",
        ),
        pytest.param(
            [("churn", (Column("proba_churn"), Column("contract", CATEGORICAL)))],
            "feature 'proba_churn' has the name of one of the export's own columns",
            id="probability-name",
        ),
    ],
)
async def test_rows_that_cannot_share_one_table_are_refused_clearly(
    session: AsyncSession,
    database_url: str,
    app_client: AppClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    schemas: list[tuple[str, tuple[Column, ...]]],
    message: str,
) -> None:
    for model, schema in schemas:
        row: list[float | str] = [1.0 if c.kind != CATEGORICAL else "x" for c in schema]
        await _store(session, _call(model, schema, [row]))
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", database_url)
    out = tmp_path / "refused.parquet"
    assert await asyncio.to_thread(_export, database_url, out) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("mlgraph: cannot export the range as one table: ")
    assert message in line
    assert not out.exists()
    async with app_client() as client:
        response = await client.get(
            "/export.csv", params={"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
        )
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_USER_INPUT"
    assert message in response.json()["error"]


async def test_an_empty_range_has_no_feature_or_class_columns(
    session: AsyncSession,
) -> None:
    plan = await db.export.plan_export(session, since=SINCE, until=UNTIL)
    assert (plan.total, plan.features, plan.classes) == (0, [], [])
