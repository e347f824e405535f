"""Aggregates over stored predictions: per time bucket, per feature, and window samples.

Everything that can be is computed by the database. SQLite lacks percentiles and a standard
deviation: there the queries fetch the one ordered column they need and finish in Python with
``quantile`` (the same linear interpolation as PostgreSQL's ``percentile_cont``).
"""

from __future__ import annotations

import json
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
from db.features import CATEGORICAL, NUMERICAL, Catalog, load_catalog
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
    """Summary of one feature (by name and kind) over a window.

    ``index`` is its position in the rows' schema (the first, if schemas differ). Numerical
    features have ``mean``, ``std`` (sample, n - 1; ``None`` with fewer than two values),
    ``min``, ``max`` and ``quantiles``; categorical ones ``distinct`` (how many values) and
    ``top``, the most frequent values with their counts, most frequent first (ties by value).
    """

    index: int
    count: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    quantiles: dict[float, float]
    name: str = ""
    kind: str = NUMERICAL
    distinct: int | None = None
    top: list[tuple[str, int]] = field(default_factory=list)


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


# Each stored value named: its row's schema (feature_schemas, passed in as :cols), else for a
# row stored before schemas its model's legacy schema by width (:legacy), else f0, f1, ….
_POSTGRES_VALUES = """
    WITH cols AS (
        SELECT * FROM unnest(
            CAST(:col_ids AS bigint[]), CAST(:col_idx AS bigint[]),
            CAST(:col_names AS text[]), CAST(:col_kinds AS text[])
        ) AS c(schema_id, idx, name, kind)
    ), named AS (
        SELECT coalesce(c.name, 'f' || (e.idx - 1)) AS name,
               coalesce(c.kind, 'numerical') AS kind,
               e.idx - 1 AS idx,
               e.value #>> '{}' AS value
        FROM predictions AS p
        CROSS JOIN LATERAL jsonb_array_elements(p.features) WITH ORDINALITY AS e(value, idx)
        LEFT JOIN cols AS c
          ON c.schema_id = coalesce(p.schema_id, {legacy}) AND c.idx = e.idx - 1
        WHERE p.model_name = :model_name AND p.created_at >= :since AND p.created_at < :until
    )
"""
_POSTGRES_NUMBERS = """
    SELECT name, min(idx), count(*), avg(v), stddev_samp(v), min(v), max(v),
           percentile_cont(CAST(:quantiles AS double precision[])) WITHIN GROUP (ORDER BY v)
    FROM (SELECT name, idx, CAST(value AS double precision) AS v
          FROM named WHERE kind = 'numerical') AS n
    GROUP BY name
"""
_SQLITE_VALUES = """
    WITH cols(schema_id, idx, name, kind) AS (
        SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
               json_extract(value, '$[2]'), json_extract(value, '$[3]')
        FROM json_each(:cols)
    ), named AS (
        SELECT coalesce(c.name, 'f' || j.key) AS name,
               coalesce(c.kind, 'numerical') AS kind,
               CAST(j.key AS INTEGER) AS idx,
               j.value AS value
        FROM predictions AS p
        JOIN json_each(p.features) AS j
        LEFT JOIN cols AS c
          ON c.schema_id = coalesce(p.schema_id, {legacy}) AND c.idx = CAST(j.key AS INTEGER)
        WHERE p.model_name = :model_name AND p.created_at >= :since AND p.created_at < :until
    )
"""
_SQLITE_NUMBERS = """
    SELECT name, idx, CAST(value AS REAL) FROM named WHERE kind = 'numerical'
    ORDER BY name, CAST(value AS REAL)
"""
# The most frequent values of each categorical feature, and how many there are, counted by the
# database: only the top rows cross the wire, whatever the number of distinct values.
_CATEGORIES = """
    SELECT name, position, value, n, distinct_values, total FROM (
        SELECT name, value, count(*) AS n,
               row_number() OVER (PARTITION BY name ORDER BY count(*) DESC, value) AS rank,
               count(*) OVER (PARTITION BY name) AS distinct_values,
               sum(count(*)) OVER (PARTITION BY name) AS total,
               min(min(idx)) OVER (PARTITION BY name) AS position
        FROM named WHERE kind = 'categorical'
        GROUP BY name, value
    ) AS ranked
    WHERE rank <= :top
    ORDER BY position, name, rank
"""


def _named_values(dialect: str, catalog: Catalog, model_name: str, params: dict[str, Any]) -> str:
    """The ``named`` CTE for ``dialect``, its parameters added to ``params``."""
    cols = [
        (key, idx, column.name, column.kind)
        for key, columns in catalog.by_id.items()
        for idx, column in enumerate(columns)
    ]
    legacy = sorted(
        (width, key) for (model, width), key in catalog.legacy.items() if model == model_name
    )
    length = "jsonb_array_length" if dialect != "sqlite" else "json_array_length"
    cases = []
    for i, (width, key) in enumerate(legacy):
        params[f"legacy_width_{i}"], params[f"legacy_id_{i}"] = width, key
        cases.append(f"WHEN :legacy_width_{i} THEN CAST(:legacy_id_{i} AS BIGINT)")
    expression = (
        f"CASE {length}(p.features) {' '.join(cases)} END" if cases else "CAST(NULL AS BIGINT)"
    )
    if dialect == "sqlite":
        params["cols"] = json.dumps(cols)
        return _SQLITE_VALUES.replace("{legacy}", expression)
    params["col_ids"] = [c[0] for c in cols]
    params["col_idx"] = [c[1] for c in cols]
    params["col_names"] = [c[2] for c in cols]
    params["col_kinds"] = [c[3] for c in cols]
    return _POSTGRES_VALUES.replace("{legacy}", expression)


async def get_feature_stats(
    session: AsyncSession,
    *,
    model_name: str,
    since: datetime,
    until: datetime,
    quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
    top: int = 10,
) -> list[FeatureStats]:
    """Per feature, by name and kind: count, and for numbers mean, sample std, min, max and
    ``quantiles`` (0..1), for categories the number of distinct values and the ``top`` most
    frequent ones with their counts. Ordered by position in the rows' schemas."""
    dialect = dialect_of(session)
    catalog = await load_catalog(session, model_names=[model_name])
    params: dict[str, Any] = {"model_name": model_name, "since": since, "until": until}
    if dialect == "sqlite":
        # Bind the dates as the column stores them (naive UTC text in SQLAlchemy's format).
        params["since"] = _sqlite_time(since)
        params["until"] = _sqlite_time(until)
    named = _named_values(dialect, catalog, model_name, params)
    result: list[FeatureStats] = []
    if dialect != "sqlite":
        params["quantiles"] = list(quantiles)
        rows = (await session.execute(text(named + _POSTGRES_NUMBERS), params)).all()
        result.extend(
            FeatureStats(
                index=int(index),
                count=count,
                mean=float(mean),
                std=float(std) if std is not None else None,
                min=float(low),
                max=float(high),
                quantiles=dict(zip(quantiles, map(float, values), strict=True)),
                name=name,
            )
            for name, index, count, mean, std, low, high, values in rows
        )
    else:
        # SQLite has no percentiles or std: the numbers arrive ordered per feature, and
        # Python finishes (``quantile`` interpolates as percentile_cont does).
        grouped: dict[str, list[float]] = defaultdict(list)
        positions: dict[str, int] = {}
        numbers = (await session.execute(text(named + _SQLITE_NUMBERS), params)).all()
        for name, index, value in numbers:
            grouped[name].append(value)
            positions[name] = min(positions.get(name, index), index)
        result.extend(
            FeatureStats(
                index=positions[name],
                count=len(values),
                mean=statistics.fmean(values),
                std=statistics.stdev(values) if len(values) > 1 else None,
                min=values[0],
                max=values[-1],
                quantiles={q: quantile(values, q) for q in quantiles},
                name=name,
            )
            for name, values in grouped.items()
        )
    if any(c.kind == CATEGORICAL for columns in catalog.by_id.values() for c in columns):
        params["top"] = top
        categories: dict[str, FeatureStats] = {}
        for name, index, value, count, distinct, total in (
            await session.execute(text(named + _CATEGORIES), params)
        ).all():
            if name not in categories:
                categories[name] = FeatureStats(
                    index=int(index),
                    count=int(total),
                    mean=None,
                    std=None,
                    min=None,
                    max=None,
                    quantiles={},
                    name=name,
                    kind=CATEGORICAL,
                    distinct=int(distinct),
                )
            categories[name].top.append((value, int(count)))
        result.extend(categories.values())
    return sorted(result, key=lambda f: (f.index, f.name, f.kind))


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
