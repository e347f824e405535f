"""Statistics over stored predictions: per time bucket and per feature."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db import stats as queries
from graph.auth import CanRead
from graph.context import Context
from graph.errors import BadUserInput
from graph.types.stats import BucketSize, FeatureStats, PredictionBucket
from graph.validation import check_range

__all__ = ["StatsQueries"]


@strawberry.type
class StatsQueries:
    @strawberry.field(
        description="Per time bucket, since <= createdAt < until: count, label mix, latency.",
        permission_classes=[CanRead],
    )
    async def prediction_stats(
        self,
        info: Info[Context, None],
        model_name: str,
        since: datetime,
        until: datetime,
        bucket: BucketSize = BucketSize.DAY,
    ) -> list[PredictionBucket]:
        since, until = check_range(since, until, model_name=model_name)
        async with info.context.read_sessions() as session:
            rows = await queries.get_bucket_stats(
                session, model_name=model_name, since=since, until=until, bucket=bucket.value
            )
        return [PredictionBucket.from_stats(row) for row in rows]

    @strawberry.field(
        description="Per input feature, by name, since <= createdAt < until: count; mean, "
        "std, min, max and quantiles of a numerical one; the number of distinct values and the "
        "top most frequent ones of a categorical one.",
        permission_classes=[CanRead],
    )
    async def feature_stats(
        self,
        info: Info[Context, None],
        model_name: str,
        since: datetime,
        until: datetime,
        quantiles: list[float] | None = None,
        top: int = 10,
    ) -> list[FeatureStats]:
        since, until = check_range(since, until, model_name=model_name)
        chosen = quantiles if quantiles is not None else [0.05, 0.25, 0.5, 0.75, 0.95]
        if not chosen or len(chosen) > 20 or not all(0 <= q <= 1 for q in chosen):
            raise BadUserInput("quantiles: 1 to 20 numbers between 0 and 1", argument="quantiles")
        if not 1 <= top <= 100:
            raise BadUserInput("top: 1 to 100 values per categorical feature", argument="top")
        async with info.context.read_sessions() as session:
            rows = await queries.get_feature_stats(
                session,
                model_name=model_name,
                since=since,
                until=until,
                quantiles=chosen,
                top=top,
            )
        return [FeatureStats.from_stats(row) for row in rows]
