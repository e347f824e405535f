"""Reads on a real streaming replica: which paths read it, and what callers see under lag.

Each test makes its own primary (``initdb``) and hot standby (``pg_basebackup -R``) on free ports
(tests/utils/postgres.py) and runs ``mlgraph serve`` with ``MLGRAPH_DATABASE_READ_URL`` on the
standby. Pausing the standby's WAL replay (``pg_wal_replay_pause``) makes the lag as long as the
test needs: a row committed meanwhile exists on the primary only, so every read that finds it
read the primary and every read that misses it read the replica.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.graph.test_live import SUBSCRIBE, events, ids
from tests.utils.api import CLASSIFY, PREDICTIONS, error_codes, graphql
from tests.utils.migrations import migrate
from tests.utils.postgres import Cluster, autocommit, replica_of, throwaway_cluster, wait_for_replay
from tests.utils.reads import read_all, window
from tests.utils.serve import (
    LiveClient,
    mlgraph_command,
    serve_mlgraph,
    stub_model,
    wait_for_metric,
)

PREDICTION = "query($id: ID!) { prediction(id: $id) { id requestId } }"
RECORD = """
mutation($requestId: String!, $labels: [String!]!) {
  recordActual(input: {requestId: $requestId, labels: $labels}) { label }
}
"""
BEFORE = [[4.0, 3, 1, 0.2], [6.0, 3, 5, 2]]
DURING = [[4.5, 3, 1, 0.2], [6.5, 3, 5, 2], [4.2, 3, 1, 0.2]]


@pytest.fixture
def primary() -> Iterator[Cluster]:
    with throwaway_cluster("mlgraph-primary-") as cluster:
        migrate(cluster.url, "head")
        yield cluster


@pytest.fixture
def replica(primary: Cluster) -> Iterator[Cluster]:
    with replica_of(primary) as cluster:
        yield cluster


@pytest.fixture
def mlgraph(primary: Cluster, replica: Cluster, tmp_path: Path) -> Iterator[str]:
    with (
        stub_model() as model_url,
        serve_mlgraph(
            primary.url,
            tmp_path / "serve.log",
            MLGRAPH_DATABASE_READ_URL=replica.url,
            MLGRAPH_MODEL_URL=model_url,
            MLGRAPH_DRIFT_MIN_ROWS="2",
        ) as base,
    ):
        yield base


async def _pause_replay(replica: Cluster) -> None:
    await autocommit(replica.url, "SELECT pg_wal_replay_pause()")
    for _ in range(600):
        if await autocommit(replica.url, "SELECT pg_get_wal_replay_pause_state()") == "paused":
            return
        await asyncio.sleep(0.05)
    pytest.fail("the replica's replay never paused")


async def _classify(
    client: httpx.AsyncClient, rows: list[list[float]], request_id: str
) -> tuple[list[str], bool]:
    body = await graphql(client, CLASSIFY, rows=rows, requestId=request_id)
    assert not error_codes(body), body
    result = body["data"]["classify"]
    return [p["id"] for p in result["predictions"]], result["replayed"]


def _export(primary: Cluster, replica: Cluster, out: Path) -> list[str]:
    """The ids ``mlgraph export`` writes with the replica as its read URL."""
    since, until = window()
    done = mlgraph_command(
        "export", "--since", since.isoformat(), "--until", until.isoformat(), "--format", "csv",
        "--out", str(out), MLGRAPH_DATABASE_URL=primary.url,
        MLGRAPH_DATABASE_READ_URL=replica.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with out.open() as file:
        return [row["id"] for row in csv.DictReader(file)]


def _check_drift(primary: Cluster, replica: Cluster) -> int:
    """The current window's count ``mlgraph check-drift`` reads from the replica."""
    until = datetime.now(UTC) + timedelta(minutes=10)  # the last 24 h, these rows included
    done = mlgraph_command(
        "check-drift", "--current", "24h", "--until", until.isoformat(),
        MLGRAPH_DATABASE_URL=primary.url, MLGRAPH_DATABASE_READ_URL=replica.url,
        MLGRAPH_DRIFT_MIN_ROWS="2",
    )  # fmt: skip
    # 2: insufficient data, since the reference week before the window is empty.
    assert done.returncode == 2, done.stdout + done.stderr
    count: int = json.loads(done.stdout)["current"]["count"]
    return count


async def test_monitoring_reads_the_replica_and_fresh_rows_come_from_the_primary(
    primary: Cluster, replica: Cluster, mlgraph: str, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=mlgraph, timeout=60) as client:
        before, _ = await _classify(client, BEFORE, "before")
        await wait_for_replay(primary.url, replica.url)
        assert sorted((await read_all(client)).history) == sorted(before)
        page = await graphql(client, PREDICTIONS, first=1)
        newest_cursor = page["data"]["predictions"]["edges"][0]["cursor"]

        await _pause_replay(replica)
        async with LiveClient(mlgraph) as live:
            await live.subscribe("live", SUBSCRIBE)
            await wait_for_metric(client, "mlgraph_live_subscribers", 1)
            during, replayed = await _classify(client, DURING, "during")
            assert not replayed
            heard = (await events(live, {"live": max(during)}))["live"]
        async with LiveClient(mlgraph) as live:
            # A reconnect with a cursor: the catch-up finds rows the replica does not have.
            await live.subscribe("again", SUBSCRIBE, after=newest_cursor)
            caught_up = (await events(live, {"again": max(during)}))["again"]

        lagging = await read_all(client)
        exported, checked = await asyncio.gather(
            asyncio.to_thread(_export, primary, replica, tmp_path / "export.csv"),
            asyncio.to_thread(_check_drift, primary, replica),
        )
        retry, replayed = await _classify(client, DURING, "during")
        assert replayed
        found = await graphql(client, PREDICTION, id=during[0])
        recorded = await graphql(client, RECORD, requestId="during", labels=["a", "b", "c"])
        ready = await client.get("/readyz")

        await autocommit(replica.url, "SELECT pg_wal_replay_resume()")
        await wait_for_replay(primary.url, replica.url)
        current = await read_all(client)

    # Paused, the replica has only the first call: every monitoring read saw only that.
    assert sorted(lagging.history) == sorted(before)
    assert lagging.stats_count == 2
    assert lagging.feature_counts == [2] * 4
    assert lagging.drift_counts == (2, 2)
    assert lagging.performance == (2, 0)
    assert sorted(lagging.export) == sorted(before)
    assert sorted(exported) == sorted(before)  # mlgraph export
    assert checked == 2  # mlgraph check-drift's current window
    # Meanwhile the paths that must see an acknowledged row read the primary.
    assert retry == during
    assert found["data"]["prediction"] == {"id": during[0], "requestId": "during"}
    assert not error_codes(recorded), recorded
    assert sorted(ids(heard)) == sorted(during)
    assert sorted(ids(caught_up)) == sorted(during)
    assert all(event["replayed"] for event in caught_up)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["checks"]["readDatabase"] == "ok"
    # Replayed, the replica has caught up with everything, the actuals included.
    assert sorted(current.history) == sorted(before + during)
    assert current.stats_count == 5
    assert current.performance == (5, 3)


async def test_the_pool_gauge_reports_the_primary_and_the_replica_apart(mlgraph: str) -> None:
    async with httpx.AsyncClient(base_url=mlgraph, timeout=60) as client:
        await _classify(client, BEFORE, "pools")  # a write: the primary's pool
        await read_all(client)  # monitoring reads: the replica's
        scraped = (await client.get("/metrics")).text
    sizes = {
        sample.labels["database"]: sample.value
        for family in text_string_to_metric_families(scraped)
        if family.name == "mlgraph_db_pool_connections"
        for sample in family.samples
        if sample.labels["state"] == "size"
    }
    assert set(sizes) == {"primary", "replica"}
    assert sizes["primary"] >= 1, sizes
    assert sizes["replica"] >= 1, sizes


def _lag(scraped: str) -> float:
    (value,) = [
        sample.value
        for family in text_string_to_metric_families(scraped)
        if family.name == "mlgraph_db_replica_lag_seconds"
        for sample in family.samples
        if sample.labels == {"database": "replica"}
    ]
    return value


async def _settled_lag(client: httpx.AsyncClient) -> float:
    # The primary logs WAL of its own now and then (running transactions, every 15 s): for a
    # moment the replica has received more than it replayed. Zero is what it settles to.
    lag = math.nan
    for _ in range(50):
        lag = _lag((await client.get("/metrics")).text)
        if lag == 0:
            break
        await asyncio.sleep(0.1)
    return lag


async def test_the_replay_lag_is_exported_while_replay_waits_and_zero_once_caught_up(
    primary: Cluster, replica: Cluster, mlgraph: str
) -> None:
    async with httpx.AsyncClient(base_url=mlgraph, timeout=60) as client:
        await _classify(client, BEFORE, "lag-before")
        await wait_for_replay(primary.url, replica.url)
        caught_up = await _settled_lag(client)
        await _pause_replay(replica)
        await _classify(client, DURING, "lag-during")  # committed on the primary only
        await asyncio.sleep(1.5)
        behind = _lag((await client.get("/metrics")).text)
        await autocommit(replica.url, "SELECT pg_wal_replay_resume()")
        await wait_for_replay(primary.url, replica.url)
        again = await _settled_lag(client)
    assert caught_up == 0
    assert behind >= 1.0
    assert again == 0


async def test_a_replica_that_is_down_fails_reads_but_not_classify(
    primary: Cluster, replica: Cluster, mlgraph: str
) -> None:
    async with httpx.AsyncClient(base_url=mlgraph, timeout=60) as client:
        await asyncio.to_thread(replica.ctl, "stop", "-m", "fast")
        try:
            ready = await client.get("/readyz")
            stored, _ = await _classify(client, BEFORE, "while-down")
            history = await graphql(client, PREDICTIONS, first=10)
            found = await graphql(client, PREDICTION, id=stored[0])
            scraped = await client.get("/metrics")
        finally:
            await asyncio.to_thread(replica.ctl, "start")
        await wait_for_replay(primary.url, replica.url)
        back = await client.get("/readyz")
        after = await graphql(client, PREDICTIONS, first=10)

    # Ready all the same: classify needs only the primary, so the pod stays in its Service.
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["readDatabase"] == "unavailable"
    assert error_codes(history) == ["STORAGE_UNAVAILABLE"]
    assert found["data"]["prediction"]["id"] == stored[0]
    # The scrape still answers; the lag it cannot read is NaN, not a stale or a zero value.
    assert scraped.status_code == 200
    assert math.isnan(_lag(scraped.text))
    assert back.json()["status"] == "ok"
    assert not error_codes(after), after
    assert sorted(e["node"]["id"] for e in after["data"]["predictions"]["edges"]) == sorted(stored)
