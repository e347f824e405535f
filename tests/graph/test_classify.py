"""classify through HTTP against the real model server, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from scripts.modelserver import ModelServer
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, PREDICTIONS, error_codes, graphql


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(db.Prediction))) or 0


async def test_classify_stores_rows_and_history_returns_them(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    async with app_client(model_url=model_server.url) as client:
        body = await graphql(client, CLASSIFY, rows=IRIS_ROWS)
        assert "errors" not in body, body
        result = body["data"]["classify"]
        history = await graphql(client, PREDICTIONS, modelName="iris", first=10)

    predictions = result["predictions"]
    assert result["replayed"] is False
    assert [p["label"] for p in predictions] == ["setosa", "virginica", "versicolor"]
    assert [p["features"] for p in predictions] == IRIS_ROWS
    assert [p["rowIndex"] for p in predictions] == [0, 1, 2]
    assert {p["modelVersion"] for p in predictions} == {"iris-test-1"}
    assert all(p["createdAt"].endswith("+00:00") for p in predictions)
    for p in predictions:
        probabilities = {c["label"]: c["probability"] for c in p["probabilities"]}
        assert max(probabilities, key=probabilities.__getitem__) == p["label"]

    # The rows are in the database, exactly as returned.
    stored = (await session.scalars(select(db.Prediction).order_by(db.Prediction.row_index))).all()  # type: ignore[arg-type]
    assert [str(row.id) for row in stored] == [p["id"] for p in predictions]
    assert [row.features for row in stored] == IRIS_ROWS
    assert stored[0].probabilities is not None
    assert set(stored[0].probabilities) == {
        "setosa",
        "versicolor",
        "virginica",
    }
    assert all(row.latency_ms > 0 for row in stored)

    # And history finds them again.
    found = {edge["node"]["id"] for edge in history["data"]["predictions"]["edges"]}
    assert found == {p["id"] for p in predictions}


async def test_replay_with_request_id_returns_stored_rows_without_new_ones(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    async with app_client(model_url=model_server.url) as client:
        first = await graphql(client, CLASSIFY, rows=IRIS_ROWS, requestId="req-1")
        again = await graphql(client, CLASSIFY, rows=IRIS_ROWS, requestId="req-1")
        other = await graphql(client, CLASSIFY, rows=IRIS_ROWS[:1], requestId="req-1")
    assert first["data"]["classify"]["replayed"] is False
    assert again["data"]["classify"]["replayed"] is True
    ids = [p["id"] for p in first["data"]["classify"]["predictions"]]
    assert [p["id"] for p in again["data"]["classify"]["predictions"]] == ids
    assert error_codes(other) == ["CONFLICT"]
    assert await _count(session) == 3


async def test_concurrent_calls_with_one_request_id_store_one_set(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    request_id = f"race-{uuid.uuid4()}"
    async with app_client(model_url=model_server.url) as client:
        bodies = await asyncio.gather(
            *(graphql(client, CLASSIFY, rows=IRIS_ROWS, requestId=request_id) for _ in range(6))
        )
    assert all("errors" not in body for body in bodies), bodies
    id_sets = {tuple(p["id"] for p in b["data"]["classify"]["predictions"]) for b in bodies}
    assert len(id_sets) == 1
    assert await _count(session) == len(IRIS_ROWS)


async def test_single_row_batch(app_client: AppClient, model_server: ModelServer) -> None:
    async with app_client(model_url=model_server.url) as client:
        body = await graphql(client, CLASSIFY, rows=[IRIS_ROWS[0]])
    assert [p["label"] for p in body["data"]["classify"]["predictions"]] == ["setosa"]
