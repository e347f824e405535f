"""Every monitoring read of one window through a running mlgraph, as counts and ids.

Tests that route reads somewhere (through PgBouncer, to a read replica) compare what each read
path saw: history, predictionStats, featureStats, drift, performance and /export.csv.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.utils.api import error_codes, graphql

__all__ = ["Reads", "read_all", "window"]

READS = """
query Reads($m: String!, $since: DateTime!, $until: DateTime!, $window: TimeWindow!) {
  predictions(modelName: $m, since: $since, until: $until, first: 500) {
    edges { node { id } }
    pageInfo { hasNextPage }
  }
  predictionStats(modelName: $m, since: $since, until: $until, bucket: WEEK) { count }
  featureStats(modelName: $m, since: $since, until: $until) { index count }
  drift(modelName: $m, reference: $window, current: $window) {
    status referenceCount currentCount
  }
  performance(modelName: $m, since: $since, until: $until, bucket: WEEK) {
    predictions withActuals
  }
}
"""


@dataclass(frozen=True)
class Reads:
    """What each read path saw of the window."""

    history: list[str]
    stats_count: int
    feature_counts: list[int]
    drift_counts: tuple[int, int]
    performance: tuple[int, int]  # (predictions, with actuals)
    export: list[str]
    drift_status: str


def window() -> tuple[datetime, datetime]:
    """A window around now wide enough for any row a test stores."""
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(days=1)


async def read_all(client: httpx.AsyncClient, model: str = "iris") -> Reads:
    since, until = window()
    span = {"since": since.isoformat(), "until": until.isoformat()}
    body = await graphql(client, READS, m=model, window=span, **span)
    assert not error_codes(body), body
    data: dict[str, Any] = body["data"]
    assert not data["predictions"]["pageInfo"]["hasNextPage"]
    exported = await client.get("/export.csv", params={**span, "model": model}, timeout=60)
    assert exported.status_code == 200, exported.text
    return Reads(
        history=[edge["node"]["id"] for edge in data["predictions"]["edges"]],
        stats_count=sum(bucket["count"] for bucket in data["predictionStats"]),
        feature_counts=[feature["count"] for feature in data["featureStats"]],
        drift_counts=(data["drift"]["referenceCount"], data["drift"]["currentCount"]),
        performance=(
            sum(bucket["predictions"] for bucket in data["performance"]),
            sum(bucket["withActuals"] for bucket in data["performance"]),
        ),
        export=[row["id"] for row in csv.DictReader(io.StringIO(exported.text))],
        drift_status=data["drift"]["status"],
    )
