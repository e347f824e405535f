"""The monitoring queries end to end over GraphQL, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import AppClient
from tests.utils.api import error_codes, graphql
from tests.utils.builders import create_random_prediction

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday

STATS = """
query($m: String!, $since: DateTime!, $until: DateTime!, $bucket: BucketSize!) {
  predictionStats(modelName: $m, since: $since, until: $until, bucket: $bucket) {
    start count meanLatencyMs p95LatencyMs labels { label count }
  }
  featureStats(modelName: $m, since: $since, until: $until, quantiles: [0.5]) {
    index count mean std min max quantiles { quantile value }
  }
}
"""

RECORD = """
mutation($input: RecordActualInput!) {
  recordActual(input: $input) { predictionId label createdAt updatedAt }
}
"""

PERFORMANCE = """
query($m: String!, $since: DateTime!, $until: DateTime!) {
  performance(modelName: $m, since: $since, until: $until, bucket: WEEK) {
    start predictions withActuals accuracy
    classes { label precision recall support }
    confusionMatrix { labels counts }
  }
}
"""

DRIFT = """
query($m: String!, $ref: TimeWindow!, $cur: TimeWindow!, $test: DriftTest, $t: Float) {
  drift(modelName: $m, reference: $ref, current: $cur, test: $test, threshold: $t) {
    status message referenceCount currentCount referenceSample currentSample sampled
    features { feature test value threshold drifted }
    label { feature test value threshold drifted }
  }
}
"""


def _window(start: datetime, hours: int = 1) -> dict[str, str]:
    return {"since": start.isoformat(), "until": (start + timedelta(hours=hours)).isoformat()}


async def test_prediction_and_feature_stats(app_client: AppClient, session: AsyncSession) -> None:
    latencies = [5.0, 7.0, 9.0, 30.0]
    for i, latency in enumerate(latencies):
        await create_random_prediction(
            session,
            created_at=T0 + timedelta(minutes=10 * i),
            label="a" if i < 3 else "b",
            latency_ms=latency,
            features=[float(i), 10.0],
        )
    await create_random_prediction(
        session, created_at=T0 + timedelta(hours=2), label="b", features=[4.0, 10.0]
    )
    await session.commit()

    async with app_client() as client:
        body = await graphql(
            client, STATS, m="iris", bucket="HOUR", **_window(T0 - timedelta(hours=1), 5)
        )
    buckets = body["data"]["predictionStats"]
    assert [(b["start"], b["count"]) for b in buckets] == [
        ("2026-03-02T08:00:00+00:00", 4),
        ("2026-03-02T10:00:00+00:00", 1),
    ]
    assert buckets[0]["labels"] == [{"label": "a", "count": 3}, {"label": "b", "count": 1}]
    assert buckets[0]["meanLatencyMs"] == pytest.approx(np.mean(latencies))
    assert buckets[0]["p95LatencyMs"] == pytest.approx(np.percentile(latencies, 95))
    first = body["data"]["featureStats"][1]
    assert (first["index"], first["count"], first["mean"], first["std"]) == (1, 5, 10.0, 0.0)


async def test_stats_reject_an_empty_range(app_client: AppClient) -> None:
    async with app_client() as client:
        body = await graphql(
            client, STATS, m="iris", bucket="DAY", since=T0.isoformat(), until=T0.isoformat()
        )
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_record_actuals_and_performance_match_sklearn(
    app_client: AppClient, session: AsyncSession
) -> None:
    rng = np.random.default_rng(5)
    classes = ["setosa", "versicolor", "virginica"]
    predicted = rng.choice(classes, 40).tolist()
    actual = [p if rng.random() < 0.7 else str(rng.choice(classes)) for p in predicted]
    rows = []
    for i, label in enumerate(predicted):
        rows.append(
            await create_random_prediction(
                session,
                created_at=T0 + timedelta(minutes=i),
                label=label,
                request_id=f"req-{i // 4}",
                row_index=i % 4,
            )
        )
    unlabelled = await create_random_prediction(session, created_at=T0, request_id="none")
    await session.commit()

    async with app_client() as client:
        # By prediction id, by request id and row index, and by request id for all its rows.
        by_id = await graphql(
            client, RECORD, input={"predictionId": str(rows[0].id), "label": actual[0]}
        )
        assert by_id["data"]["recordActual"][0]["label"] == actual[0]
        row = await graphql(
            client, RECORD, input={"requestId": "req-0", "rowIndex": 1, "label": actual[1]}
        )
        assert row["data"]["recordActual"][0]["predictionId"] == str(rows[1].id)
        await graphql(client, RECORD, input={"requestId": "req-0", "labels": actual[0:4]})
        for r in range(1, 10):
            body = await graphql(
                client, RECORD, input={"requestId": f"req-{r}", "labels": actual[4 * r : 4 * r + 4]}
            )
            assert [a["label"] for a in body["data"]["recordActual"]] == actual[4 * r : 4 * r + 4]
        result = await graphql(client, PERFORMANCE, m="iris", **_window(T0, 2))
    assert str(unlabelled.id)

    [bucket] = result["data"]["performance"]
    assert (bucket["predictions"], bucket["withActuals"]) == (41, 40)
    assert bucket["accuracy"] == pytest.approx(metrics.accuracy_score(actual, predicted))
    labels = bucket["confusionMatrix"]["labels"]
    assert labels == classes
    expected = metrics.confusion_matrix(actual, predicted, labels=labels).tolist()
    assert bucket["confusionMatrix"]["counts"] == expected
    precision = metrics.precision_score(actual, predicted, labels=labels, average=None)
    recall = metrics.recall_score(actual, predicted, labels=labels, average=None)
    for i, got in enumerate(bucket["classes"]):
        assert got["precision"] == pytest.approx(precision[i])
        assert got["recall"] == pytest.approx(recall[i])
        assert got["support"] == actual.count(labels[i])


async def test_record_actual_errors(app_client: AppClient, session: AsyncSession) -> None:
    await create_random_prediction(session, created_at=T0, request_id="r", row_index=0)
    await create_random_prediction(session, created_at=T0, request_id="r", row_index=1)
    await session.commit()
    async with app_client() as client:
        wrong_count = await graphql(client, RECORD, input={"requestId": "r", "labels": ["a"]})
        unknown = await graphql(client, RECORD, input={"requestId": "nope", "label": "a"})
        no_row = await graphql(
            client, RECORD, input={"requestId": "r", "rowIndex": 5, "label": "a"}
        )
        both = await graphql(
            client, RECORD, input={"requestId": "r", "label": "a", "labels": ["a"]}
        )
        bad_id = await graphql(client, RECORD, input={"predictionId": "x", "label": "a"})
    assert error_codes(wrong_count) == ["BAD_USER_INPUT"]
    assert error_codes(unknown) == ["NOT_FOUND"]
    assert error_codes(no_row) == ["NOT_FOUND"]
    assert error_codes(both) == ["BAD_USER_INPUT"]
    assert error_codes(bad_id) == ["BAD_USER_INPUT"]


async def _store_window(
    session: AsyncSession, start: datetime, matrix: np.ndarray, labels: list[str]
) -> None:
    for i, (row, label) in enumerate(zip(matrix, labels, strict=True)):
        await create_random_prediction(
            session,
            created_at=start + timedelta(seconds=i),
            features=[float(x) for x in row],
            label=label,
        )


async def test_drift_flags_a_shifted_window_and_not_a_similar_one(
    app_client: AppClient, session: AsyncSession
) -> None:
    rng = np.random.default_rng(2026)
    n = 300
    reference = np.column_stack([rng.normal(0, 1, n), rng.normal(5, 2, n)])
    similar = np.column_stack([rng.normal(0, 1, n), rng.normal(5, 2, n)])
    shifted = np.column_stack([rng.normal(0, 1, n), rng.normal(6.5, 2, n)])
    labels = rng.choice(["a", "b"], n * 3, p=[0.6, 0.4]).tolist()
    days = [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    for day, matrix, part in zip(days, (reference, similar, shifted), range(3), strict=True):
        await _store_window(session, day, matrix, labels[part * n : (part + 1) * n])
    await session.commit()

    async with app_client() as client:
        calm = await graphql(client, DRIFT, m="iris", ref=_window(days[0]), cur=_window(days[1]))
        moved = await graphql(client, DRIFT, m="iris", ref=_window(days[0]), cur=_window(days[2]))
        psi = await graphql(
            client, DRIFT, m="iris", ref=_window(days[0]), cur=_window(days[2]), test="PSI", t=0.2
        )
    calm_report, moved_report = calm["data"]["drift"], moved["data"]["drift"]
    assert calm_report["status"] == "NO_DRIFT"
    assert (calm_report["referenceCount"], calm_report["currentSample"]) == (n, n)
    assert not calm_report["sampled"]
    assert [f["test"] for f in calm_report["features"]] == ["KS", "KS"]
    # Two labels and a reference of up to 1000 rows: Evidently's Z-test, not chi-square.
    assert calm_report["label"]["test"] == "ZTEST"
    assert not calm_report["label"]["drifted"]

    assert moved_report["status"] == "DRIFTED"
    assert [f["drifted"] for f in moved_report["features"]] == [False, True]
    ks = stats.ks_2samp(reference[:, 1], shifted[:, 1]).pvalue
    assert moved_report["features"][1]["value"] == pytest.approx(ks)
    assert moved_report["features"][1]["threshold"] == 0.05

    async with app_client(drift_ztest_threshold=0.99) as client:
        strict = await graphql(client, DRIFT, m="iris", ref=_window(days[0]), cur=_window(days[1]))
    strict_label = strict["data"]["drift"]["label"]
    assert strict_label["value"] == calm_report["label"]["value"]
    assert (strict_label["threshold"], strict_label["drifted"]) == (
        0.99,
        strict_label["value"] < 0.99,
    )

    psi_features = psi["data"]["drift"]["features"]
    assert [(f["test"], f["threshold"]) for f in psi_features] == [("PSI", 0.2), ("PSI", 0.2)]
    assert psi_features[1]["drifted"]


async def test_drift_on_too_few_rows_says_so(app_client: AppClient, session: AsyncSession) -> None:
    rng = np.random.default_rng(1)
    await _store_window(session, T0, rng.normal(size=(40, 2)), ["a"] * 40)
    await _store_window(session, T0 + timedelta(days=1), rng.normal(size=(5, 2)), ["a"] * 5)
    await session.commit()
    async with app_client() as client:
        body = await graphql(
            client, DRIFT, m="iris", ref=_window(T0), cur=_window(T0 + timedelta(days=1))
        )
    report = body["data"]["drift"]
    assert report["status"] == "INSUFFICIENT_DATA"
    assert (report["referenceCount"], report["currentCount"]) == (40, 5)
    assert "40" in report["message"]
    assert report["features"] == []
    assert report["label"] is None


async def test_drift_samples_large_windows(app_client: AppClient, session: AsyncSession) -> None:
    rng = np.random.default_rng(3)
    await _store_window(session, T0, rng.normal(size=(150, 1)), ["a"] * 150)
    await _store_window(session, T0 + timedelta(days=1), rng.normal(size=(120, 1)), ["a"] * 120)
    await session.commit()
    async with app_client(drift_max_sample=100) as client:
        body = await graphql(
            client, DRIFT, m="iris", ref=_window(T0), cur=_window(T0 + timedelta(days=1))
        )
    report = body["data"]["drift"]
    assert (report["referenceCount"], report["referenceSample"]) == (150, 100)
    assert (report["currentCount"], report["currentSample"]) == (120, 100)
    assert report["sampled"]
    assert report["status"] in ("NO_DRIFT", "DRIFTED")
