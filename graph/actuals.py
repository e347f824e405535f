"""Recording actuals, shared by the ``recordActual`` mutation and the Seldon feedback route.

Finds the predictions an actual is about (one by id, one row of a request, or every row of a
request in order), checks the labels fit, and stores them in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import db
from db import actuals as actual_queries
from db import predictions as prediction_queries
from graph.errors import BadUserInput, NotFound

__all__ = ["record_actuals"]


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
    if not labels or not all(1 <= len(label) <= 200 for label in labels):
        raise BadUserInput("labels must be 1 to 200 characters each", argument="labels")
    async with sessions.begin() as session:
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
