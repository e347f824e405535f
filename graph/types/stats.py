"""GraphQL types for prediction statistics: per time bucket and per feature."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from db import stats

__all__ = ["BucketSize", "FeatureStats", "LabelCount", "PredictionBucket", "QuantileValue"]


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


@strawberry.type(description="Summary of one input feature (by position) over a window.")
class FeatureStats:
    index: int
    count: int
    mean: float
    std: float | None = strawberry.field(description="Sample standard deviation (n - 1).")
    min: float
    max: float
    quantiles: list[QuantileValue]

    @classmethod
    def from_stats(cls, row: stats.FeatureStats) -> FeatureStats:
        return cls(
            index=row.index,
            count=row.count,
            mean=row.mean,
            std=row.std,
            min=row.min,
            max=row.max,
            quantiles=[QuantileValue(quantile=q, value=v) for q, v in row.quantiles.items()],
        )
