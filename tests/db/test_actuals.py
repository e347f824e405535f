"""Recording actuals (upsert, change time) and the counts behind the performance query."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from db import actuals
from db.errors import UnknownPrediction
from tests.utils.builders import create_random_prediction

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_record_then_replace_keeps_created_at_and_moves_updated_at(
    session: AsyncSession,
) -> None:
    prediction = await create_random_prediction(session, created_at=T0, label="a")
    await session.commit()

    [first] = await actuals.record_actuals(session, labels=[(prediction.id, "a")])
    await session.commit()
    assert (first.prediction_id, first.label) == (prediction.id, "a")
    assert first.created_at == first.updated_at
    created, updated = first.created_at, first.updated_at

    # The same label again is not a change: updated_at stays.
    await asyncio.sleep(0.01)  # lets the database clock move past the first write
    [same] = await actuals.record_actuals(session, labels=[(prediction.id, "a")])
    await session.commit()
    assert (same.label, same.created_at, same.updated_at) == ("a", created, updated)

    await asyncio.sleep(0.01)
    [changed] = await actuals.record_actuals(session, labels=[(prediction.id, "b")])
    await session.commit()
    assert changed.label == "b"
    assert changed.created_at == created
    assert changed.updated_at > updated


async def test_last_label_wins_within_one_call(session: AsyncSession) -> None:
    prediction = await create_random_prediction(session, created_at=T0)
    await session.commit()
    rows = await actuals.record_actuals(
        session, labels=[(prediction.id, "x"), (prediction.id, "y")]
    )
    assert [row.label for row in rows] == ["y"]


async def test_unknown_prediction_is_refused(session: AsyncSession) -> None:
    with pytest.raises(UnknownPrediction):
        await actuals.record_actuals(session, labels=[(uuid.uuid4(), "x")])


async def test_performance_counts_per_bucket(session: AsyncSession) -> None:
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b"), ("c", None)]
    for i, (predicted, actual) in enumerate(pairs):
        row = await create_random_prediction(
            session, created_at=T0 + timedelta(minutes=i), label=predicted
        )
        await session.flush()
        if actual is not None:
            await actuals.record_actuals(session, labels=[(row.id, actual)])
    later = await create_random_prediction(session, created_at=T0 + timedelta(days=1), label="a")
    await session.flush()
    await actuals.record_actuals(session, labels=[(later.id, "c")])
    await session.commit()

    result = await actuals.get_performance_counts(
        session, model_name="iris", since=T0, until=T0 + timedelta(days=7), bucket="day"
    )
    assert [(r.start, r.predictions, r.with_actuals) for r in result] == [
        (T0.replace(hour=0), 5, 4),
        (T0.replace(hour=0) + timedelta(days=1), 1, 1),
    ]
    assert result[0].pairs == {("a", "a"): 1, ("a", "b"): 1, ("b", "b"): 2}
    assert result[1].pairs == {("a", "c"): 1}
