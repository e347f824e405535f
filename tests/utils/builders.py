"""Builders for stored rows, for tests that need history without calling a model."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

import db


async def create_random_prediction(
    session: AsyncSession,
    *,
    created_at: datetime,
    model_name: str = "iris",
    label: str | None = None,
    request_id: str | None = None,
    row_index: int = 0,
    features: Sequence[float | str] | None = None,
    latency_ms: float = 1.0,
    probabilities: dict[str, float] | None = None,
    schema_id: int | None = None,
) -> db.Prediction:
    """Store one prediction at an exact ``created_at`` (committed by the caller), and its
    request id in ``classify_requests`` as classify does.

    Without ``schema_id`` it is stored as rows were before feature schemas (``db.features``).
    """
    label = label or random.choice(["setosa", "versicolor", "virginica"])
    row = db.Prediction(
        id=uuid.uuid4(),
        created_at=created_at,
        model_name=model_name,
        model_version="v1",
        features=list(features)
        if features is not None
        else [round(random.uniform(0, 8), 2) for _ in range(4)],
        label=label,
        probabilities=probabilities,
        latency_ms=latency_ms,
        request_id=request_id,
        row_index=row_index,
        schema_id=schema_id,
    )
    session.add(row)
    if request_id is not None:
        # As store_calls claims each request id (the row feedback's reward is stored on).
        await session.merge(db.ClassifyRequest(request_id=request_id, created_at=created_at))
    return row
