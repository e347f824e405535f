"""Actual outcomes: recording them, and the performance they measure."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from db import actuals as queries
from graph import actuals
from graph.auth import CanPredict, CanRead
from graph.context import Context
from graph.errors import BadUserInput
from graph.types.actuals import Actual, PerformanceBucket
from graph.types.stats import BucketSize
from graph.validation import check_range

__all__ = ["ActualMutations", "PerformanceQueries", "RecordActualInput"]


@strawberry.input(
    description="The actual outcome of a prediction: by predictionId; by requestId and "
    "rowIndex; or by requestId alone with one label per row of the request, in row order. "
    "Recording again replaces the label."
)
class RecordActualInput:
    prediction_id: strawberry.ID | None = None
    request_id: str | None = None
    row_index: int | None = None
    label: str | None = strawberry.field(default=None, description="One label.")
    labels: list[str] | None = strawberry.field(default=None, description="One label per row.")


@strawberry.type
class ActualMutations:
    @strawberry.mutation(
        description="Record what really happened; returns the stored actuals in row order.",
        permission_classes=[CanPredict],
    )
    async def record_actual(
        self, info: Info[Context, None], input: RecordActualInput
    ) -> list[Actual]:
        if (input.label is None) == (input.labels is None):
            raise BadUserInput("give either label or labels", argument="label")
        labels = [input.label] if input.label is not None else list(input.labels or [])
        prediction_id = None
        if input.prediction_id is not None:
            try:
                prediction_id = uuid.UUID(str(input.prediction_id))
            except ValueError as exc:
                raise BadUserInput("predictionId is not a UUID", argument="predictionId") from exc
        rows = await actuals.record_actuals(
            info.context.sessions,
            labels=labels,
            prediction_id=prediction_id,
            request_id=input.request_id,
            row_index=input.row_index,
        )
        return [Actual.from_row(row) for row in rows]


@strawberry.type
class PerformanceQueries:
    @strawberry.field(
        description="Accuracy, per-class precision/recall and the confusion matrix per bucket "
        "of prediction time, over the predictions that have actuals.",
        permission_classes=[CanRead],
    )
    async def performance(
        self,
        info: Info[Context, None],
        model_name: str,
        since: datetime,
        until: datetime,
        bucket: BucketSize = BucketSize.DAY,
    ) -> list[PerformanceBucket]:
        since, until = check_range(since, until, model_name=model_name)
        async with info.context.read_sessions() as session:
            rows = await queries.get_performance_counts(
                session, model_name=model_name, since=since, until=until, bucket=bucket.value
            )
        return [PerformanceBucket.from_counts(row) for row in rows]
