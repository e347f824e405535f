"""Monthly partitions of predictions (PostgreSQL), retention (both), and migration 0005 with data.

Each test here gets a database of its own: the partitions ``maintain`` makes would otherwise
outlive the test in the shared migrated database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Integer, String, Uuid, column, func, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlmodel import col

import db
from db import partitions
from db.predictions import NewPrediction, create_predictions, list_predictions
from db.types import FeatureValues, UTCDateTime
from graph.cli import main
from tests.utils.builders import create_random_prediction
from tests.utils.migrations import migrate

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def fresh_url(empty_database_url: str) -> str:
    migrate(empty_database_url, "head")
    return empty_database_url


@pytest.fixture
async def sessions(fresh_url: str) -> AsyncIterator[db.Sessions]:
    engine = db.make_engine(fresh_url)
    yield db.make_sessionmaker(engine)
    await engine.dispose()


async def _partition_of(session: AsyncSession, prediction_id: uuid.UUID) -> str:
    statement = text("SELECT tableoid::regclass::text FROM predictions WHERE id = :id")
    return str(await session.scalar(statement, {"id": prediction_id}))


async def _maintain(sessions: db.Sessions, **options: Any) -> partitions.MaintenanceReport:
    options = {"now": NOW, "retention_months": 13, "months_ahead": 3, **options}
    async with sessions.begin() as session:
        return await partitions.maintain(session, **options)


@pytest.mark.postgres_only
async def test_migrate_and_maintain_make_the_partitions(
    dialect: str, sessions: db.Sessions
) -> None:
    async with sessions() as session:
        made = await partitions.list_partitions(session)
        now = await session.scalar(select(func.now()))
    assert now is not None
    months = [partitions.partition_name(partitions.month_start(now, i)) for i in range(4)]
    assert set(made) == {partitions.DEFAULT_PARTITION, *months}

    report = await _maintain(sessions, now=now + timedelta(days=62), months_ahead=4)
    expected = [partitions.partition_name(partitions.month_start(now, i)) for i in (4, 5, 6)]
    assert report.created == expected
    async with sessions() as session:
        assert set(await partitions.list_partitions(session)) == {*made, *expected}


async def test_history_across_a_month_boundary(dialect: str, sessions: db.Sessions) -> None:
    await _maintain(sessions, now=datetime(2025, 10, 5, tzinfo=UTC), months_ahead=1)
    boundary = datetime(2025, 11, 1, tzinfo=UTC)
    times = [boundary + timedelta(minutes=m) for m in (-2, -1, 0, 1)]
    async with sessions.begin() as session:
        rows = [await create_random_prediction(session, created_at=t) for t in times]
    async with sessions() as session:
        if dialect == "postgresql":
            placed = [await _partition_of(session, row.id) for row in rows]
            assert placed == ["predictions_y2025m10"] * 2 + ["predictions_y2025m11"] * 2
        page = await list_predictions(
            session, limit=10, since=boundary - timedelta(hours=1), until=boundary + timedelta(1)
        )
        assert [row.created_at for row in page] == times[::-1]
        oldest = await list_predictions(session, limit=3, oldest_first=True)
        assert [row.created_at for row in oldest] == times[:3]


async def test_maintain_drops_months_past_the_retention_only(
    dialect: str, sessions: db.Sessions
) -> None:
    # Partitions for September to November 2025, and November 2026.
    await _maintain(sessions, now=datetime(2025, 9, 10, tzinfo=UTC), months_ahead=2)
    await _maintain(sessions, retention_months=120, months_ahead=0)
    expired = [datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 9, 30, 23, 59, tzinfo=UTC)]
    kept = [datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 11, 3, tzinfo=UTC), NOW]
    async with sessions.begin() as session:
        old = [await create_random_prediction(session, created_at=t) for t in expired]
        new = [await create_random_prediction(session, created_at=t) for t in kept]
        await session.flush()
        await db.actuals.record_actuals(session, labels=[(old[0].id, "a"), (new[0].id, "b")])
        session.add(db.ClassifyRequest(request_id="old", created_at=expired[0]))
        session.add(db.ClassifyRequest(request_id="new", created_at=kept[0]))

    report = await _maintain(sessions)

    assert report.cutoff == datetime(2025, 10, 1, tzinfo=UTC)
    assert (report.deleted_actuals, report.deleted_requests) == (1, 1)
    async with sessions() as session:
        stored = await session.scalars(
            select(db.Prediction).order_by(col(db.Prediction.created_at))
        )
        assert [row.id for row in stored] == [row.id for row in new]
        actuals = await session.scalars(select(db.Actual))
        assert [(row.prediction_id, row.label) for row in actuals] == [(new[0].id, "b")]
        requests = await session.scalars(select(col(db.ClassifyRequest.request_id)))
        assert list(requests) == ["new"]
        if dialect == "postgresql":
            assert report.dropped == ["predictions_y2025m09"]
            assert report.default_rows == 0
            made = await partitions.list_partitions(session)
            assert "predictions_y2025m09" not in made
            assert {"predictions_y2025m10", "predictions_y2026m11"} <= set(made)
            default = text(f"SELECT count(*) FROM {partitions.DEFAULT_PARTITION}")
            assert await session.scalar(default) == 0
        else:
            assert report.deleted_predictions == 2


async def test_duplicate_request_id_still_conflicts(dialect: str, sessions: db.Sessions) -> None:
    rows = [NewPrediction(features=[1.0], label="a", probabilities=None)]
    options: dict[str, Any] = {"model_name": "m", "model_version": "1", "latency_ms": 1.0}
    async with sessions.begin() as session:
        await create_predictions(session, rows=rows, request_id="r-1", **options)
    with pytest.raises(db.DuplicateRequestId):
        async with sessions.begin() as session:
            await create_predictions(session, rows=rows, request_id="r-1", **options)
    async with sessions() as session:
        count = select(func.count()).select_from(db.Prediction)
        assert await session.scalar(count) == 1


def test_maintain_command(
    dialect: str,
    fresh_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", fresh_url)
    monkeypatch.setenv("MLGRAPH_RETENTION_MONTHS", "2")
    assert main(["maintain"]) == 0
    out = capsys.readouterr().out
    assert "retention: keeping predictions from" in out
    if dialect == "postgresql":
        assert "dropped partitions: none" in out
    else:
        assert "deleted 0 prediction(s) in batches" in out


# --- migration 0005 with rows in the table --------------------------------------------------

_V4_PREDICTIONS = table(
    "predictions",
    column("id", Uuid()),
    column("created_at", UTCDateTime()),
    column("model_name", String()),
    column("model_version", String()),
    column("features", FeatureValues()),
    column("label", String()),
    column("probabilities", JSON()),
    column("latency_ms"),
    column("request_id", String()),
    column("row_index", Integer()),
)
_ACTUALS = table("actuals", column("prediction_id", Uuid()), column("label", String()))


async def _run(url: str, statements: list[Any]) -> list[list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            results = [await connection.execute(s) for s in statements]
            return [list(r.all()) if r.returns_rows else [] for r in results]
    finally:
        await engine.dispose()


def test_migration_0005_keeps_rows_both_ways(dialect: str, empty_database_url: str) -> None:
    url = empty_database_url
    migrate(url, "0004")
    times = [datetime(2025, 6, 10, tzinfo=UTC), datetime(2026, 11, 20, 8, tzinfo=UTC)]
    rows = [
        {
            "id": uuid.uuid4(),
            "created_at": created_at,
            "model_name": "iris",
            "model_version": "1",
            "features": [1.0, 2.5],
            "label": "setosa",
            "probabilities": {"setosa": 0.9, "other": 0.1},
            "latency_ms": 3.0,
            "request_id": "req-1",
            "row_index": index,
        }
        for index, created_at in enumerate(times)
    ]
    asyncio.run(_run(url, [_V4_PREDICTIONS.insert().values(rows)]))
    asyncio.run(
        _run(url, [_ACTUALS.insert().values(prediction_id=rows[0]["id"], label="versicolor")])
    )
    read = [
        select(_V4_PREDICTIONS).order_by(_V4_PREDICTIONS.c.created_at),
        select(_ACTUALS.c.prediction_id, _ACTUALS.c.label),
    ]
    before = asyncio.run(_run(url, read))

    migrate(url, "0005")
    assert asyncio.run(_run(url, read)) == before
    requests = select(column("request_id", String()), column("created_at", UTCDateTime()))
    [stored] = asyncio.run(_run(url, [requests.select_from(table("classify_requests"))]))
    assert stored == [("req-1", times[0])]
    if dialect == "postgresql":
        placed = text("SELECT tableoid::regclass::text FROM predictions ORDER BY created_at")
        [where] = asyncio.run(_run(url, [placed]))
        assert [name for (name,) in where] == ["predictions_y2025m06", "predictions_y2026m11"]

    migrate(url, "0004", down=True)
    assert asyncio.run(_run(url, read)) == before
