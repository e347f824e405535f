"""Streaming every stored prediction of a range, with its actual, for a training set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.tables import Actual, Prediction

__all__ = ["EXPORT_COLUMNS", "count_export_rows", "stream_export_rows"]

EXPORT_COLUMNS = (
    "id",
    "created_at",
    "model_name",
    "model_version",
    "request_id",
    "row_index",
    "features",
    "label",
    "probabilities",
    "latency_ms",
    "actual",
)


def _where(since: datetime, until: datetime, model_name: str | None) -> list[Any]:
    where = [col(Prediction.created_at) >= since, col(Prediction.created_at) < until]
    if model_name is not None:
        where.append(col(Prediction.model_name) == model_name)
    return where


async def count_export_rows(
    session: AsyncSession, *, since: datetime, until: datetime, model_name: str | None = None
) -> int:
    statement = select(func.count()).select_from(Prediction)
    return (await session.execute(statement.where(*_where(since, until, model_name)))).scalar_one()


async def stream_export_rows(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    model_name: str | None = None,
    batch_size: int = 1000,
) -> AsyncIterator[Sequence[Any]]:
    """Batches of rows in ``EXPORT_COLUMNS`` order, oldest first.

    ``session.stream`` with ``yield_per`` uses a server-side cursor on PostgreSQL, so memory
    holds one batch whatever the range's size.
    """
    statement = (
        select(
            col(Prediction.id),
            col(Prediction.created_at),
            col(Prediction.model_name),
            col(Prediction.model_version),
            col(Prediction.request_id),
            col(Prediction.row_index),
            col(Prediction.features),
            col(Prediction.label),
            col(Prediction.probabilities),
            col(Prediction.latency_ms),
            col(Actual.label),
        )
        .outerjoin(Actual, col(Actual.prediction_id) == col(Prediction.id))
        .where(*_where(since, until, model_name))
        .order_by(col(Prediction.created_at), col(Prediction.id))
        .execution_options(yield_per=batch_size)
    )
    result = await session.stream(statement)
    async for batch in result.partitions(batch_size):
        yield batch
