"""Queries on the predictions table. Each takes the session first and keywords after it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.errors import DuplicateRequestId
from db.tables import ClassifyRequest, Prediction

__all__ = [
    "Keyset",
    "NewPrediction",
    "create_predictions",
    "get_prediction",
    "get_predictions_by_ids",
    "get_predictions_by_request_id",
    "list_predictions",
]


@dataclass(frozen=True, slots=True)
class NewPrediction:
    """What the caller knows of one row before it is stored."""

    features: Sequence[float]
    label: str
    probabilities: dict[str, float] | None


@dataclass(frozen=True, slots=True)
class Keyset:
    """The position of a row in "newest first" order: page after it."""

    created_at: datetime
    id: uuid.UUID


async def create_predictions(
    session: AsyncSession,
    *,
    rows: Sequence[NewPrediction],
    model_name: str,
    model_version: str,
    latency_ms: float,
    request_id: str | None = None,
) -> list[Prediction]:
    """Insert one prediction per row in one statement and return them in input order.

    ``created_at`` is set by the database server. With a ``request_id``, a ``ClassifyRequest``
    row is inserted first, in the same transaction: its primary key raises
    ``DuplicateRequestId`` when the id is stored already (a concurrent call with the same id
    waits for the first one's commit, then fails); the session's transaction must then be
    rolled back.
    """
    if request_id is not None:
        try:
            await session.execute(insert(ClassifyRequest).values(request_id=request_id))
        except IntegrityError as exc:
            raise DuplicateRequestId(request_id) from exc
    values: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "model_name": model_name,
            "model_version": model_version,
            "features": [float(x) for x in row.features],
            "label": row.label,
            "probabilities": row.probabilities,
            "latency_ms": latency_ms,
            "request_id": request_id,
            "row_index": index,
        }
        for index, row in enumerate(rows)
    ]
    statement = insert(Prediction).returning(Prediction, sort_by_parameter_order=True)
    result = await session.scalars(statement, values)
    return list(result.all())


async def get_prediction(session: AsyncSession, *, prediction_id: uuid.UUID) -> Prediction | None:
    # Not session.get: the primary key is (id, created_at), and only id is known.
    statement = select(Prediction).where(col(Prediction.id) == prediction_id)
    return (await session.scalars(statement)).one_or_none()


async def get_predictions_by_request_id(
    session: AsyncSession, *, request_id: str
) -> list[Prediction]:
    """The rows stored by one classify call, in the order they were sent."""
    statement = (
        select(Prediction)
        .where(col(Prediction.request_id) == request_id)
        .order_by(col(Prediction.row_index))
    )
    return list((await session.scalars(statement)).all())


async def get_predictions_by_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> list[Prediction]:
    """The rows with these ids that exist, oldest first (ties by id)."""
    if not ids:
        return []
    statement = (
        select(Prediction)
        .where(col(Prediction.id).in_(list(ids)))
        .order_by(col(Prediction.created_at), col(Prediction.id))
    )
    return list((await session.scalars(statement)).all())


async def list_predictions(
    session: AsyncSession,
    *,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
    model_name: str | None = None,
    label: str | None = None,
    after: Keyset | None = None,
    oldest_first: bool = False,
) -> list[Prediction]:
    """Predictions newest first (or ``oldest_first``), ``since`` inclusive, ``until`` exclusive.

    Ties in ``created_at`` are ordered by ``id``, so ``after`` (keyset pagination) visits every
    row exactly once, on any page, at the cost of one index range scan. With ``oldest_first``,
    ``after`` means the rows that follow it in ascending order.
    """
    created_at, row_id = col(Prediction.created_at), col(Prediction.id)
    ascending = (created_at.asc(), row_id.asc())
    order = ascending if oldest_first else (created_at.desc(), row_id.desc())
    statement = select(Prediction).order_by(*order).limit(limit)
    if since is not None:
        statement = statement.where(created_at >= since)
    if until is not None:
        statement = statement.where(created_at < until)
    if model_name is not None:
        statement = statement.where(col(Prediction.model_name) == model_name)
    if label is not None:
        statement = statement.where(col(Prediction.label) == label)
    if after is not None:
        position, keyset = tuple_(created_at, row_id), tuple_(after.created_at, after.id)
        statement = statement.where(position > keyset if oldest_first else position < keyset)
    return list((await session.scalars(statement)).all())
