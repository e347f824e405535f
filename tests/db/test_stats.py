"""Bucketed and per-feature statistics on both databases, checked against numpy."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from db import stats
from db._buckets import quantile
from tests.utils.builders import create_random_prediction

# A Sunday: the week buckets must put it with the Monday before, not the Monday after.
SUNDAY = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


def _expected_start(when: datetime, bucket: str) -> datetime:
    hour = when.replace(minute=0, second=0, microsecond=0)
    if bucket == "hour":
        return hour
    day = hour.replace(hour=0)
    return day if bucket == "day" else day - timedelta(days=day.weekday())


@pytest.mark.parametrize("bucket", ["hour", "day", "week"])
async def test_bucket_stats_counts_labels_and_latency(session: AsyncSession, bucket: str) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(120):
        # Spread over Sunday evening to Monday night, crossing hour, day and week boundaries.
        when = SUNDAY + timedelta(minutes=int(rng.integers(0, 26 * 60)), microseconds=i)
        label = str(rng.choice(["a", "b", "c"]))
        latency = float(rng.gamma(2.0, 10.0))
        rows.append((when, label, latency))
        await create_random_prediction(session, created_at=when, label=label, latency_ms=latency)
    # Outside the range or another model: never counted.
    await create_random_prediction(session, created_at=SUNDAY - timedelta(days=9))
    await create_random_prediction(session, created_at=SUNDAY, model_name="other")
    await session.commit()

    result = await stats.get_bucket_stats(
        session,
        model_name="iris",
        since=SUNDAY - timedelta(days=1),
        until=SUNDAY + timedelta(days=2),
        bucket=bucket,  # type: ignore[arg-type]
    )

    expected: dict[datetime, list[tuple[str, float]]] = defaultdict(list)
    for when, label, latency in rows:
        expected[_expected_start(when, bucket)].append((label, latency))
    assert [b.start for b in result] == sorted(expected)
    for got in result:
        members = expected[got.start]
        latencies = np.array([latency for _, latency in members])
        assert got.count == len(members)
        assert got.labels == dict(Counter(label for label, _ in members))
        assert got.mean_latency_ms == pytest.approx(latencies.mean())
        assert got.p95_latency_ms == pytest.approx(np.percentile(latencies, 95))
    assert sum(b.count for b in result) == 120


async def test_week_buckets_start_on_monday(session: AsyncSession) -> None:
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    await create_random_prediction(session, created_at=monday - timedelta(microseconds=1))
    await create_random_prediction(session, created_at=monday, label="x")
    await create_random_prediction(session, created_at=monday + timedelta(days=6, hours=23))
    await session.commit()
    result = await stats.get_bucket_stats(
        session,
        model_name="iris",
        since=monday - timedelta(days=7),
        until=monday + timedelta(days=14),
        bucket="week",
    )
    assert [(b.start, b.count) for b in result] == [
        (monday - timedelta(days=7), 1),
        (monday, 2),
    ]
    assert result[0].start.tzinfo is not None


async def test_feature_stats_match_numpy(session: AsyncSession) -> None:
    rng = np.random.default_rng(11)
    matrix = np.column_stack(
        [rng.normal(5, 2, 301), rng.uniform(-1, 1, 301), rng.exponential(3, 301)]
    )
    for i, row in enumerate(matrix):
        when = SUNDAY + timedelta(seconds=i)
        await create_random_prediction(session, created_at=when, features=[float(x) for x in row])
    await create_random_prediction(session, created_at=SUNDAY, model_name="other")
    await session.commit()

    quantiles = (0.05, 0.5, 0.95)
    result = await stats.get_feature_stats(
        session,
        model_name="iris",
        since=SUNDAY,
        until=SUNDAY + timedelta(hours=1),
        quantiles=quantiles,
    )
    assert [f.index for f in result] == [0, 1, 2]
    for feature in result:
        column = matrix[:, feature.index]
        assert feature.count == 301
        assert feature.mean == pytest.approx(column.mean())
        assert feature.std == pytest.approx(column.std(ddof=1))
        assert feature.min == pytest.approx(column.min())
        assert feature.max == pytest.approx(column.max())
        assert list(feature.quantiles) == list(quantiles)
        for q, value in feature.quantiles.items():
            assert value == pytest.approx(np.quantile(column, q))


async def test_feature_stats_of_an_empty_window(session: AsyncSession) -> None:
    result = await stats.get_feature_stats(
        session, model_name="iris", since=SUNDAY, until=SUNDAY + timedelta(hours=1)
    )
    assert result == []


async def test_sample_window_caps_rows(session: AsyncSession) -> None:
    for i in range(40):
        await create_random_prediction(session, created_at=SUNDAY + timedelta(seconds=i))
    await session.commit()
    until = SUNDAY + timedelta(hours=1)
    whole = await stats.sample_window(
        session, model_name="iris", since=SUNDAY, until=until, limit=100
    )
    assert (whole.total, len(whole.labels), whole.sampled) == (40, 40, False)
    # Rows stored without a schema are named by position.
    assert [(c.name, c.kind, c.position) for c in whole.columns] == [
        (f"f{i}", "numerical", i) for i in range(4)
    ]
    assert all(len(c.values) == 40 for c in whole.columns)
    part = await stats.sample_window(session, model_name="iris", since=SUNDAY, until=until, limit=9)
    assert (part.total, len(part.labels), part.sampled) == (40, 9, True)
    assert [len(c.values) for c in part.columns] == [9] * 4


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.95, 1.0])
def test_quantile_interpolates_like_numpy(q: float) -> None:
    values = sorted(np.random.default_rng(3).normal(size=17).tolist())
    assert quantile(values, q) == pytest.approx(np.quantile(values, q))
    assert quantile([4.0], q) == 4.0


async def test_feature_stats_by_name_for_numbers_and_categories(session: AsyncSession) -> None:
    from collections import Counter

    from db.features import CATEGORICAL, Column
    from db.predictions import NewCall, NewPrediction, store_calls

    rng = np.random.default_rng(5)
    regions = rng.choice(
        ["north", "south", "east", "west", "1"], 300, p=[0.4, 0.3, 0.15, 0.1, 0.05]
    )
    tenure = rng.integers(1, 72, 300).astype(float)
    plans = rng.choice(["basic", "plus"], 120)
    first = (Column("tenure"), Column("region", CATEGORICAL))
    # A later schema reorders and adds a feature: stats follow names, not positions.
    second = (Column("region", CATEGORICAL), Column("plan", CATEGORICAL), Column("tenure"))

    def call(schema: tuple[Column, ...], rows: list[list[float | str]]) -> NewCall:
        predictions = [NewPrediction(features=r, label="a", probabilities=None) for r in rows]
        return NewCall(predictions, "churn", "v1", 1.0, schema=schema)

    await store_calls(
        session,
        calls=[
            call(first, [[t, str(r)] for t, r in zip(tenure[:180], regions[:180], strict=True)]),
            call(
                second,
                [
                    [str(r), str(p), t]
                    for r, p, t in zip(regions[180:], plans, tenure[180:], strict=True)
                ],
            ),
        ],
    )
    await create_random_prediction(session, created_at=SUNDAY, model_name="churn")  # no schema
    await session.commit()
    result = await stats.get_feature_stats(
        session,
        model_name="churn",
        since=SUNDAY - timedelta(days=3650),
        until=SUNDAY + timedelta(days=3650),
        quantiles=(0.5,),
        top=3,
    )
    by_name = {(f.name, f.kind): f for f in result}
    assert [(f.name, f.index) for f in result] == [
        ("f0", 0),
        ("region", 0),
        ("tenure", 0),
        ("f1", 1),
        ("plan", 1),
        ("f2", 2),
        ("f3", 3),
    ]
    numbers = by_name[("tenure", "numerical")]
    assert numbers.count == 300
    assert numbers.mean == pytest.approx(tenure.mean())
    assert numbers.quantiles[0.5] == pytest.approx(np.quantile(tenure, 0.5))
    assert (numbers.distinct, numbers.top) == (None, [])
    region = by_name[("region", CATEGORICAL)]
    counts = Counter(str(r) for r in regions)
    assert (region.count, region.distinct) == (300, 5)
    assert (region.mean, region.quantiles) == (None, {})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    assert region.top == ranked[:3]
    plan = by_name[("plan", CATEGORICAL)]
    assert (plan.count, plan.distinct) == (120, 2)
    assert sorted(plan.top) == sorted(Counter(str(p) for p in plans).items())
    assert by_name[("f0", "numerical")].count == 1
