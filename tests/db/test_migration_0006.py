"""Migration 0006 on both databases with rows in them: old rows stay as they were and read back
named; the downgrade keeps numbers and refuses while categories are stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import JSON, Float, Integer, String, Uuid, column, select, table
from sqlalchemy.ext.asyncio import create_async_engine

from db.types import FeatureValues, UTCDateTime
from graph.app import create_app
from graph.settings import Settings
from tests.utils.migrations import migrate

_V5 = table(
    "predictions",
    column("id", Uuid()),
    column("created_at", UTCDateTime()),
    column("model_name", String()),
    column("model_version", String()),
    column("features", FeatureValues()),
    column("label", String()),
    column("probabilities", JSON()),
    column("latency_ms", Float()),
    column("request_id", String()),
    column("row_index", Integer()),
)
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
HISTORY = """{ predictions(first: 50) { edges { node { modelName features record } } } }"""
CLASSIFY = """mutation($records: [FeatureRecord!]!, $model: String) {
  classify(input: {records: $records, modelName: $model}) { predictions { id } } }"""


async def _run(url: str, statements: list[Any]) -> list[list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            results = [await connection.execute(s) for s in statements]
            return [list(r.all()) if r.returns_rows else [] for r in results]
    finally:
        await engine.dispose()


def _model(request: httpx.Request) -> httpx.Response:
    rows = json.loads(request.content)["data"]["ndarray"]
    return httpx.Response(200, json={"data": {"ndarray": ["a"] * len(rows)}})


async def _app(url: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Run mlgraph on ``url``, send ``calls`` (classify variables), return the history."""
    models = [
        {"name": "iris", "url": "http://iris", "version": "1", "features": IRIS},
        {
            "name": "churn",
            "url": "http://churn",
            "version": "1",
            "features": ["tenure", {"name": "region", "kind": "categorical"}],
        },
    ]
    settings = Settings(database_url=url, models=models)
    app = create_app(settings, model_transport=httpx.MockTransport(_model))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mlgraph") as client:
            for variables in calls:
                response = await client.post(
                    "/graphql", json={"query": CLASSIFY, "variables": variables}
                )
                assert "errors" not in response.json(), response.json()
            history: dict[str, Any] = (
                await client.post("/graphql", json={"query": HISTORY})
            ).json()
    return history


def _records(history: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    nodes = [edge["node"] for edge in history["data"]["predictions"]["edges"]]
    return sorted(((n["modelName"], n["record"]) for n in nodes), key=json.dumps)


def test_old_rows_survive_0006_both_ways_and_read_back_named(
    dialect: str, empty_database_url: str
) -> None:
    url = empty_database_url
    migrate(url, "0005")
    old = [
        {
            "id": uuid.uuid4(),
            "created_at": datetime(2026, 11, 20, 8, i, tzinfo=UTC),
            "model_name": model,
            "model_version": "1",
            "features": features,
            "label": "setosa",
            "probabilities": {"setosa": 0.9, "other": 0.1},
            "latency_ms": 3.0,
            "request_id": None,
            "row_index": 0,
        }
        for i, (model, features) in enumerate(
            [("iris", [5.1, 3.5, 1.4, 0.2]), ("iris", [6.7, 3.0, 5.2, 2.3]), ("gone", [1.0, 2.0])]
        )
    ]
    asyncio.run(_run(url, [_V5.insert().values(old)]))
    read = [select(_V5).order_by(_V5.c.created_at)]
    before = asyncio.run(_run(url, read))

    migrate(url, "0006")
    assert asyncio.run(_run(url, read)) == before
    (schemas,) = asyncio.run(_run(url, [select(column("schema_id")).select_from(_V5)]))
    assert schemas == [(None,)] * 3

    # Before any row of iris has a schema, its old rows are named by position…
    history = asyncio.run(_app(url, []))
    assert _records(history) == [
        ("gone", {"f0": 1.0, "f1": 2.0}),
        ("iris", {"f0": 5.1, "f1": 3.5, "f2": 1.4, "f3": 0.2}),
        ("iris", {"f0": 6.7, "f1": 3.0, "f2": 5.2, "f3": 2.3}),
    ]
    # …and once one is stored under iris' names, by them (same width, all numerical).
    new_iris = dict(zip(IRIS, [5.9, 3.0, 4.2, 1.5], strict=True))
    history = asyncio.run(_app(url, [{"records": [new_iris], "model": "iris"}]))
    assert _records(history) == [
        ("gone", {"f0": 1.0, "f1": 2.0}),
        ("iris", dict(zip(IRIS, [5.1, 3.5, 1.4, 0.2], strict=True))),
        ("iris", new_iris),
        ("iris", dict(zip(IRIS, [6.7, 3.0, 5.2, 2.3], strict=True))),
    ]

    # Numbers only: the downgrade keeps every row as it was.
    migrate(url, "0005", down=True)
    after = asyncio.run(_run(url, read))
    assert after[0][:3] == before[0]
    assert after[0][3].features == [5.9, 3.0, 4.2, 1.5]

    # A category stored: the older code could not read it, so the downgrade refuses.
    migrate(url, "0006")
    asyncio.run(_app(url, [{"records": [{"tenure": 3, "region": "north"}], "model": "churn"}]))
    with pytest.raises(RuntimeError, match="1 predictions hold categorical features"):
        migrate(url, "0005", down=True)
    (kept,) = asyncio.run(_run(url, [select(column("schema_id")).select_from(_V5)]))
    assert len(kept) == 5
