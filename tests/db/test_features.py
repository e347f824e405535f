"""Feature schemas in the database: stored once, referred to by id from the same INSERT as the
rows, and naming rows stored before schemas existed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

import db
from db import features
from db.features import CATEGORICAL, NUMERICAL, Column
from db.predictions import NewCall, NewPrediction, store_calls
from tests.utils.builders import create_random_prediction

IRIS = tuple(
    Column(name) for name in ("sepal_length", "sepal_width", "petal_length", "petal_width")
)
CHURN = (
    Column("tenure"),
    Column("monthly_charges"),
    Column("contract", CATEGORICAL),
    Column("region", CATEGORICAL),
)


def _call(model: str, schema: features.Columns | None, rows: list[list[Any]]) -> NewCall:
    return NewCall(
        rows=[NewPrediction(features=row, label="a", probabilities=None) for row in rows],
        model_name=model,
        model_version="v1",
        latency_ms=1.0,
        schema=schema,
    )


@contextmanager
def _statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def test_schema_ids_are_derived_from_the_model_and_the_ordered_features() -> None:
    assert features.schema_id("iris", IRIS) == features.schema_id("iris", tuple(IRIS))
    assert features.schema_id("iris", IRIS) != features.schema_id("iris2", IRIS)
    assert features.schema_id("iris", IRIS) != features.schema_id("iris", IRIS[::-1])
    kinds = (Column("sepal_length", CATEGORICAL), *IRIS[1:])
    assert features.schema_id("iris", IRIS) != features.schema_id("iris", kinds)
    assert -(2**63) <= features.schema_id("iris", IRIS) < 2**63


async def test_calls_of_several_schemas_are_one_insert_and_each_schema_is_stored_once(
    engine: AsyncEngine,
) -> None:
    sessions = db.make_sessionmaker(engine)
    calls = [
        _call("churn", CHURN, [[3.0, 95.5, "monthly", "north"], [60, 40, "two-year", "south"]]),
        _call("iris", IRIS, [[5.1, 3.5, 1.4, 0.2]]),
        _call("churn", CHURN, [[1, 2, "yearly", "1"]]),
    ]
    with _statements(engine) as seen:
        async with sessions.begin() as session:
            results = await store_calls(session, calls=calls)
    inserts = [s for s in seen if s.startswith("INSERT INTO predictions")]
    assert len(inserts) == 1
    assert len([s for s in seen if s.startswith("INSERT INTO feature_schemas")]) == 1
    stored = [row for rows in results for row in rows or ()]
    assert [r.features for r in stored] == [
        [3.0, 95.5, "monthly", "north"],
        [60.0, 40.0, "two-year", "south"],
        [5.1, 3.5, 1.4, 0.2],
        [1.0, 2.0, "yearly", "1"],  # the category "1" stays a string
    ]
    async with sessions() as session:
        read = (await session.scalars(select(db.Prediction))).all()
        catalog = await features.load_catalog(session)
    by_id = {row.id: row for row in read}
    for row in stored:
        assert by_id[row.id].features == row.features
        assert by_id[row.id].schema_id == row.schema_id
    assert {r.schema_id for r in stored} == set(catalog.by_id)
    assert catalog.by_id[features.schema_id("churn", CHURN)] == CHURN

    # A schema this process saw committed is not stored again.
    known = {features.schema_id("churn", CHURN)}
    with _statements(engine) as seen:
        async with sessions.begin() as session:
            await store_calls(session, calls=[calls[2]], known_schemas=known)
    assert not [s for s in seen if "feature_schemas" in s]


async def test_the_writer_learns_a_schema_only_once_committed(engine: AsyncEngine) -> None:
    writer = db.PredictionWriter(db.make_sessionmaker(engine))
    rows = await writer.write(_call("churn", CHURN, [[3, 95.5, "monthly", "north"]]))
    assert rows[0].features == [3.0, 95.5, "monthly", "north"]
    assert writer.known_schemas == {features.schema_id("churn", CHURN)}
    with _statements(engine) as seen:
        await writer.write(_call("churn", CHURN, [[4, 90, "monthly", "east"]]))
    assert not [s for s in seen if "feature_schemas" in s]
    await writer.aclose()


async def test_a_colliding_id_is_refused(session: AsyncSession) -> None:
    forged = features.schema_id("churn", CHURN)
    await session.execute(
        insert(db.FeatureSchemaRow).values(
            id=forged, model_name="churn", features=[{"name": "x", "kind": NUMERICAL}]
        )
    )
    with pytest.raises(features.SchemaCollision):
        await features.ensure_schemas(session, schemas={forged: ("churn", CHURN)})


async def test_rows_without_a_schema_take_their_models_first_numerical_schema_of_their_width(
    session: AsyncSession,
) -> None:
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    for model in ("iris", "churn", "other"):
        await create_random_prediction(session, created_at=t0, model_name=model)
    await session.commit()
    async with session.begin():
        later = (("iris", (*IRIS, Column("extra"))), ("iris", IRIS), ("churn", CHURN))
        for i, (model, schema) in enumerate(later):
            await features.ensure_schemas(
                session, schemas={features.schema_id(model, schema): (model, schema)}
            )
            # created_at orders the schemas: the first one of a width names the old rows.
            await session.execute(
                update(db.FeatureSchemaRow)
                .where(col(db.FeatureSchemaRow.id) == features.schema_id(model, schema))
                .values(created_at=t0 + timedelta(days=i))
            )
    catalog = await features.load_catalog(session)
    names = {
        model: [c.name for c in catalog.columns(model, None, 4)]
        for model in ("iris", "churn", "other")
    }
    assert names["iris"] == [c.name for c in IRIS]
    # Churn's only schema of width 4 has categories, which old rows (numbers only) cannot be.
    assert names["churn"] == names["other"] == ["f0", "f1", "f2", "f3"]
    assert [c.name for c in catalog.columns("iris", None, 2)] == ["f0", "f1"]
    count = await session.scalar(select(func.count()).select_from(db.FeatureSchemaRow))
    assert count == 3
