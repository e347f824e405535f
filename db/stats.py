"""Aggregates over stored predictions: per time bucket, per feature, and window samples.

Everything that can be is computed by the database. SQLite lacks percentiles and a standard
deviation: there the queries fetch the one ordered column they need and finish in Python with
``quantile`` (the same linear interpolation as PostgreSQL's ``percentile_cont``).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db._buckets import Bucket, as_utc, bucket_start, dialect_of, quantile
from db.features import load_catalog
from db.tables import Prediction

__all__ = [
    "Bucket",
    "BucketStats",
    "ColumnSample",
    "FeatureStats",
    "Window",
    "get_bucket_stats",
    "get_feature_stats",
    "sample_window",
]

P95 = 0.95


@dataclass(slots=True)
class BucketStats:
    """One time bucket of one model's predictions."""

    start: datetime
    count: int
    mean_latency_ms: float
    p95_latency_ms: float
    labels: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeatureStats:
    """Summary of one feature (by position in the input row) over a window.

    ``std`` is the sample standard deviation (n - 1), ``None`` with fewer than two values.
    """

    index: int
    count: int
    mean: float
    std: float | None
    min: float
    max: float
    quantiles: dict[float, float]


@dataclass(frozen=True, slots=True)
class ColumnSample:
    """One feature's values over a window's sampled rows that have it.

    ``position`` is its place in the rows' schema (where it first appeared); ``values`` are
    floats for a numerical feature, strings for a categorical one.
    """

    name: str
    kind: str
    position: int
    values: list[Any]


@dataclass(frozen=True, slots=True)
class Window:
    """Rows of one window for a drift test: ``total`` rows exist, ``labels`` and ``columns``
    hold at most the sample limit of them, drawn at random by the database. Columns are
    named by each row's schema (``db.features.Catalog``)."""

    total: int
    labels: list[str]
    columns: list[ColumnSample]

    @property
    def sampled(self) -> bool:
        return len(self.labels) < self.total


def _window(model_name: str, since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    created_at = col(Prediction.created_at)
    return [
        col(Prediction.model_name) == model_name,
        created_at >= since,
        created_at < until,
    ]


async def get_bucket_stats(
    session: AsyncSession,
    *,
    model_name: str,
    since: datetime,
    until: datetime,
    bucket: Bucket,
) -> list[BucketStats]:
    """Count, label mix, mean and p95 latency per bucket, ``since <= created_at < until``.

    Buckets start at the hour, the UTC midnight or the Monday; empty buckets are left out.
    """
    dialect = dialect_of(session)
    start = bucket_start(dialect, col(Prediction.created_at), bucket).label("start")
    latency = col(Prediction.latency_ms)
    where = _window(model_name, since, until)
    columns: list[Any] = [start, func.count(), func.avg(latency)]
    if dialect != "sqlite":
        columns.append(func.percentile_cont(P95).within_group(latency))
    rows = (await session.execute(select(*columns).where(*where).group_by(start))).all()
    result = {
        row[0]: BucketStats(
            start=as_utc(row[0]),
            count=row[1],
            mean_latency_ms=float(row[2]),
            p95_latency_ms=float(row[3]) if dialect != "sqlite" else float("nan"),
        )
        for row in rows
    }

    by_label = select(start, col(Prediction.label), func.count()).where(*where)
    by_label = by_label.group_by(start, col(Prediction.label))
    for key, label, count in (await session.execute(by_label)).all():
        result[key].labels[label] = count

    if dialect == "sqlite":
        ordered = select(start, latency).where(*where).order_by(start, latency)
        latencies: dict[Any, list[float]] = defaultdict(list)
        for key, value in (await session.execute(ordered)).all():
            latencies[key].append(value)
        for key, values in latencies.items():
            result[key].p95_latency_ms = quantile(values, P95)
    return sorted(result.values(), key=lambda stats: stats.start)


_POSTGRES_FEATURES = text(
    """
    SELECT e.idx - 1, count(*), avg(e.v), stddev_samp(e.v), min(e.v), max(e.v),
           percentile_cont(CAST(:quantiles AS double precision[])) WITHIN GROUP (ORDER BY e.v)
    FROM predictions AS p
    CROSS JOIN LATERAL (
        SELECT CAST(t.value AS double precision) AS v, t.idx
        FROM jsonb_array_elements_text(p.features) WITH ORDINALITY AS t(value, idx)
    ) AS e
    WHERE p.model_name = :model_name AND p.created_at >= :since AND p.created_at < :until
    GROUP BY e.idx
    ORDER BY e.idx
    """
)

_SQLITE_FEATURES = text(
    """
    SELECT CAST(j.key AS INTEGER) AS idx, CAST(j.value AS REAL) AS v
    FROM predictions AS p, json_each(p.features) AS j
    WHERE p.model_name = :model_name AND p.created_at >= :since AND p.created_at < :until
    ORDER BY idx, v
    """
)


async def get_feature_stats(
    session: AsyncSession,
    *,
    model_name: str,
    since: datetime,
    until: datetime,
    quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
) -> list[FeatureStats]:
    """Per feature position: count, mean, sample std, min, max and ``quantiles`` (0..1)."""
    params: dict[str, Any] = {"model_name": model_name, "since": since, "until": until}
    if dialect_of(session) != "sqlite":
        params["quantiles"] = list(quantiles)
        rows = (await session.execute(_POSTGRES_FEATURES, params)).all()
        return [
            FeatureStats(
                index=int(index),
                count=count,
                mean=float(mean),
                std=float(std) if std is not None else None,
                min=float(low),
                max=float(high),
                quantiles=dict(zip(quantiles, map(float, values), strict=True)),
            )
            for index, count, mean, std, low, high, values in rows
        ]
    # SQLite: json_each gives (position, value); values arrive ordered per position. Bind the
    # dates as the column stores them (naive UTC text in SQLAlchemy's format).
    params["since"] = _sqlite_time(since)
    params["until"] = _sqlite_time(until)
    grouped: dict[int, list[float]] = defaultdict(list)
    for index, value in (await session.execute(_SQLITE_FEATURES, params)).all():
        grouped[index].append(value)
    return [
        FeatureStats(
            index=index,
            count=len(values),
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else None,
            min=values[0],
            max=values[-1],
            quantiles={q: quantile(values, q) for q in quantiles},
        )
        for index, values in sorted(grouped.items())
    ]


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def sample_window(
    session: AsyncSession,
    *,
    model_name: str,
    since: datetime,
    until: datetime,
    limit: int,
) -> Window:
    """The labels and features of a window's rows, at most ``limit`` of them.

    When the window holds more, the database draws ``limit`` rows at random (``ORDER BY
    random() LIMIT``, a bounded top-N sort), so only the sample crosses the wire.
    """
    where = _window(model_name, since, until)
    total = (await session.execute(select(func.count()).where(*where))).scalar_one()
    statement = select(
        col(Prediction.label), col(Prediction.features), col(Prediction.schema_id)
    ).where(*where)
    if total > limit:
        statement = statement.order_by(func.random()).limit(limit)
    rows = (await session.execute(statement)).all()
    catalog = await load_catalog(session, model_names=[model_name])
    columns: dict[tuple[str, str], ColumnSample] = {}
    for _, values, stored in rows:
        for position, (column, value) in enumerate(
            zip(catalog.columns(model_name, stored, len(values)), values, strict=True)
        ):
            key = (column.name, column.kind)
            sample = columns.get(key)
            if sample is None:
                sample = columns[key] = ColumnSample(column.name, column.kind, position, [])
            sample.values.append(value)
    return Window(
        total=total,
        labels=[row[0] for row in rows],
        columns=sorted(columns.values(), key=lambda c: c.position),
    )
