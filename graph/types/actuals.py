"""GraphQL types for actual outcomes and the model performance measured with them."""

from __future__ import annotations

from datetime import datetime

import strawberry

import db
from db import actuals
from monitoring.classification import compute_metrics

__all__ = ["Actual", "ClassPerformance", "ConfusionMatrix", "PerformanceBucket"]


@strawberry.type(description="What really happened for one prediction.")
class Actual:
    prediction_id: strawberry.ID
    label: str
    created_at: datetime = strawberry.field(description="When it was first recorded.")
    updated_at: datetime = strawberry.field(description="When the label last changed.")

    @classmethod
    def from_row(cls, row: db.Actual) -> Actual:
        return cls(
            prediction_id=strawberry.ID(str(row.prediction_id)),
            label=row.label,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type
class ClassPerformance:
    label: str
    precision: float | None = strawberry.field(description="Null when never predicted.")
    recall: float | None = strawberry.field(description="Null when never the actual.")
    support: int = strawberry.field(description="Predictions whose actual is this label.")


@strawberry.type(description="counts[i][j]: actual labels[i] predicted as labels[j].")
class ConfusionMatrix:
    labels: list[str]
    counts: list[list[int]]


@strawberry.type(description="Model performance over the predictions made in one bucket.")
class PerformanceBucket:
    start: datetime
    predictions: int
    with_actuals: int
    accuracy: float | None = strawberry.field(description="Null without actuals.")
    classes: list[ClassPerformance]
    confusion_matrix: ConfusionMatrix
    rewarded: int = strawberry.field(
        description="Requests of this bucket that Seldon feedback gave a reward."
    )
    mean_reward: float | None = strawberry.field(
        description="The mean of their rewards (the last one sent for each request); null "
        "without any."
    )

    @classmethod
    def from_counts(cls, row: actuals.PerformanceCounts) -> PerformanceBucket:
        metrics = compute_metrics(row.pairs)
        return cls(
            start=row.start,
            predictions=row.predictions,
            with_actuals=metrics.count,
            accuracy=metrics.accuracy,
            classes=[
                ClassPerformance(
                    label=c.label, precision=c.precision, recall=c.recall, support=c.support
                )
                for c in metrics.classes
            ],
            confusion_matrix=ConfusionMatrix(labels=metrics.labels, counts=metrics.confusion),
            rewarded=row.rewarded,
            mean_reward=row.reward_sum / row.rewarded if row.rewarded else None,
        )
