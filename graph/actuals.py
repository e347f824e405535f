"""Recording actuals, shared by the ``recordActual`` mutation and the Seldon feedback route.

Finds the predictions an actual is about (one by id, one row of a request, or every row of a
request in order), checks the labels fit, and stores them in one transaction; Seldon feedback
may add a reward for the request in the same transaction (``record_feedback``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

import db
from db import actuals as actual_queries
from db import predictions as prediction_queries
from graph.errors import BadUserInput, NotFound

__all__ = ["Feedback", "record_actuals", "record_feedback"]


async def record_actuals(
    sessions: db.Sessions,
    *,
    labels: Sequence[str],
    prediction_id: uuid.UUID | None = None,
    request_id: str | None = None,
    row_index: int | None = None,
) -> list[db.Actual]:
    """Store ``labels`` as the actuals of the predictions named; returns them in order.

    Give ``prediction_id`` (one label), or ``request_id`` with ``row_index`` (one label), or
    ``request_id`` alone with one label per row of that request, in row order.
    """
    if (prediction_id is None) == (request_id is None):
        raise BadUserInput("give either predictionId or requestId", argument="predictionId")
    if row_index is not None and request_id is None:
        raise BadUserInput("rowIndex needs requestId", argument="rowIndex")
    async with sessions.begin() as session:
        return await _record(
            session,
            labels=labels,
            prediction_id=prediction_id,
            request_id=request_id,
            row_index=row_index,
        )


@dataclass(frozen=True, slots=True)
class Feedback:
    """What one Seldon feedback stored: an actual per row (none without truth), the reward."""

    actuals: list[db.Actual]
    reward: float | None


async def record_feedback(
    sessions: db.Sessions,
    *,
    request_id: str,
    labels: Sequence[str] | None,
    reward: float | None,
) -> Feedback:
    """Store a feedback's truth (one label per row of the request, in row order) and reward
    (for the whole request, replacing an earlier one) in one transaction."""
    if reward is not None and not math.isfinite(reward):
        raise BadUserInput("reward must be a finite number", argument="reward")
    async with sessions.begin() as session:
        stored = []
        if labels is not None:
            stored = await _record(session, labels=labels, request_id=request_id)
        if reward is not None and not await actual_queries.record_reward(
            session, request_id=request_id, reward=reward
        ):
            raise NotFound(f"no predictions with request id {request_id!r}")
        return Feedback(stored, reward)


async def _record(
    session: AsyncSession,
    *,
    labels: Sequence[str],
    prediction_id: uuid.UUID | None = None,
    request_id: str | None = None,
    row_index: int | None = None,
) -> list[db.Actual]:
    if not labels or not all(1 <= len(label) <= 200 for label in labels):
        raise BadUserInput("labels must be 1 to 200 characters each", argument="labels")
    if prediction_id is not None:
        row = await prediction_queries.get_prediction(session, prediction_id=prediction_id)
        if row is None:
            raise NotFound(f"no prediction {prediction_id}", argument="predictionId")
        targets = [row]
    else:
        assert request_id is not None
        targets = await prediction_queries.get_predictions_by_request_id(
            session, request_id=request_id
        )
        if not targets:
            raise NotFound(f"no predictions with request id {request_id!r}")
        if row_index is not None:
            targets = [t for t in targets if t.row_index == row_index]
            if not targets:
                raise NotFound(
                    f"request {request_id!r} has no row {row_index}", argument="rowIndex"
                )
    if len(labels) != len(targets):
        raise BadUserInput(
            f"{len(labels)} label(s) for {len(targets)} prediction(s): send one per row",
            argument="labels",
        )
    pairs = [(target.id, label) for target, label in zip(targets, labels, strict=True)]
    return await actual_queries.record_actuals(session, labels=pairs)
