"""Actual outcomes (ground truth) and rewards for stored predictions, and the counts
performance needs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db._buckets import Bucket, as_utc, bucket_start, dialect_of
from db.errors import UnknownPrediction
from db.tables import Actual, ClassifyRequest, Prediction
from db.types import utcnow

__all__ = ["PerformanceCounts", "get_performance_counts", "record_actuals", "record_reward"]


async def record_actuals(
    session: AsyncSession, *, labels: Sequence[tuple[uuid.UUID, str]]
) -> list[Actual]:
    """Store the actual label of each ``(prediction id, label)``, replacing earlier ones.

    One statement (INSERT ... ON CONFLICT DO UPDATE). ``updated_at`` moves only when the label
    changes, so it says when the outcome was last corrected; ``created_at`` never moves. The
    prediction ids must exist: ``UnknownPrediction`` otherwise (checked here, not by a foreign
    key, which the partitioned predictions table cannot have). Returns the stored rows in
    input order.
    """
    if not labels:
        return []
    # One row per prediction: PostgreSQL refuses to update a row twice in one statement.
    latest = dict(labels)
    known = set(
        await session.scalars(select(col(Prediction.id)).where(col(Prediction.id).in_(latest)))
    )
    if missing := [prediction_id for prediction_id in latest if prediction_id not in known]:
        raise UnknownPrediction(missing)
    insert = sqlite_insert if dialect_of(session) == "sqlite" else postgresql_insert
    table = Actual.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(
        [
            {"prediction_id": prediction_id, "label": label}
            for prediction_id, label in latest.items()
        ]
    )
    changed = table.c.label != statement.excluded.label
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.prediction_id],
        set_={
            "label": statement.excluded.label,
            "updated_at": case((changed, utcnow()), else_=table.c.updated_at),
        },
    )
    await session.execute(statement)
    # populate_existing: the session may hold these rows from before the upsert.
    query = select(Actual).where(col(Actual.prediction_id).in_(latest))
    rows = await session.scalars(query.execution_options(populate_existing=True))
    by_id = {row.prediction_id: row for row in rows}
    return [by_id[prediction_id] for prediction_id in latest]


async def record_reward(session: AsyncSession, *, request_id: str, reward: float) -> bool:
    """Store ``reward`` for the request ``request_id``, replacing an earlier one; False when no
    such request is stored."""
    statement = (
        update(ClassifyRequest)
        .where(col(ClassifyRequest.request_id) == request_id)
        .values(reward=reward)
        .returning(col(ClassifyRequest.request_id))
    )
    return (await session.scalar(statement)) is not None


@dataclass(slots=True)
class PerformanceCounts:
    """One bucket: how many predictions, ``(predicted, actual) -> count`` for those with an
    actual, and the requests with a reward and their rewards' sum."""

    start: datetime
    predictions: int = 0
    pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    rewarded: int = 0
    reward_sum: float = 0.0

    @property
    def with_actuals(self) -> int:
        return sum(self.pairs.values())


async def get_performance_counts(
    session: AsyncSession,
    *,
    model_name: str,
    since: datetime,
    until: datetime,
    bucket: Bucket,
) -> list[PerformanceCounts]:
    """Per bucket of prediction time: the prediction count, the (predicted, actual) pair
    counts, and the rewarded requests (counted once, by their first row), grouped by the
    database. Empty buckets are left out."""
    dialect = dialect_of(session)
    start = bucket_start(dialect, col(Prediction.created_at), bucket).label("start")
    where = [
        col(Prediction.model_name) == model_name,
        col(Prediction.created_at) >= since,
        col(Prediction.created_at) < until,
    ]
    totals = select(start, func.count()).where(*where).group_by(start)
    result = {
        key: PerformanceCounts(start=as_utc(key), predictions=count)
        for key, count in (await session.execute(totals)).all()
    }
    predicted, actual = col(Prediction.label), col(Actual.label)
    pairs = (
        select(start, predicted, actual, func.count())
        .join(Actual, col(Actual.prediction_id) == col(Prediction.id))
        .where(*where)
        .group_by(start, predicted, actual)
    )
    for key, predicted_label, actual_label, count in (await session.execute(pairs)).all():
        result[key].pairs[(predicted_label, actual_label)] = count
    reward = col(ClassifyRequest.reward)
    rewards = (
        select(start, func.count(), func.sum(reward))
        .join(ClassifyRequest, col(ClassifyRequest.request_id) == col(Prediction.request_id))
        .where(*where, col(Prediction.row_index) == 0, reward.is_not(None))
        .group_by(start)
    )
    for key, count, total in (await session.execute(rewards)).all():
        result[key].rewarded, result[key].reward_sum = count, float(total)
    return sorted(result.values(), key=lambda counts: counts.start)
