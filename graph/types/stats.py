"""GraphQL types for prediction statistics: per time bucket and per feature."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from db import stats
from graph.types.features import FeatureKind

__all__ = [
    "BucketSize",
    "CategoryCount",
    "FeatureStats",
    "LabelCount",
    "PredictionBucket",
    "QuantileValue",
]


@strawberry.enum(description="Width of a time bucket; weeks start on Monday (UTC).")
class BucketSize(enum.Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


@strawberry.type
class LabelCount:
    label: str
    count: int


@strawberry.type(description="The predictions of one time bucket.")
class PredictionBucket:
    start: datetime = strawberry.field(description="Start of the bucket (UTC).")
    count: int
    labels: list[LabelCount] = strawberry.field(description="Count per predicted label.")
    mean_latency_ms: float
    p95_latency_ms: float = strawberry.field(
        description="95th percentile, interpolated linearly (percentile_cont)."
    )

    @classmethod
    def from_stats(cls, row: stats.BucketStats) -> PredictionBucket:
        return cls(
            start=row.start,
            count=row.count,
            labels=[LabelCount(label=k, count=v) for k, v in sorted(row.labels.items())],
            mean_latency_ms=row.mean_latency_ms,
            p95_latency_ms=row.p95_latency_ms,
        )


@strawberry.type
class QuantileValue:
    quantile: float
    value: float


@strawberry.type(description="How often a categorical feature held one value.")
class CategoryCount:
    value: str
    count: int
    share: float = strawberry.field(description="count / the feature's count, 0..1.")


@strawberry.type(
    description="Summary of one input feature over a window: numbers get mean, std, min, max "
    "and quantiles; categories the number of distinct values and the most frequent ones."
)
class FeatureStats:
    name: str = strawberry.field(description="The feature's name (f0, f1, … for unnamed rows).")
    kind: FeatureKind  # type: ignore[valid-type]
    index: int = strawberry.field(description="Its position in the rows' features.")
    count: int = strawberry.field(description="Rows that have the feature.")
    mean: float | None = strawberry.field(description="Numerical only.")
    std: float | None = strawberry.field(
        description="Sample standard deviation (n - 1); numerical only."
    )
    min: float | None = strawberry.field(description="Numerical only.")
    max: float | None = strawberry.field(description="Numerical only.")
    quantiles: list[QuantileValue] = strawberry.field(description="Numerical only, else empty.")
    distinct: int | None = strawberry.field(
        description="Categorical only: how many different values it held."
    )
    top: list[CategoryCount] = strawberry.field(
        description="Categorical only: the most frequent values, most frequent first (ties by "
        "value); empty for numerical features."
    )

    @classmethod
    def from_stats(cls, row: stats.FeatureStats) -> FeatureStats:
        return cls(
            name=row.name,
            kind=FeatureKind(row.kind),
            index=row.index,
            count=row.count,
            mean=row.mean,
            std=row.std,
            min=row.min,
            max=row.max,
            quantiles=[QuantileValue(quantile=q, value=v) for q, v in row.quantiles.items()],
            distinct=row.distinct,
            top=[
                CategoryCount(value=value, count=count, share=count / row.count)
                for value, count in row.top
            ],
        )
