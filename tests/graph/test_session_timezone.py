"""A PostgreSQL whose sessions are not in UTC changes nothing that mlgraph stores or answers.

A DBA's ``timezone`` setting (for the database, the role or the server) is every session's
TimeZone, which is how PostgreSQL prints a timestamptz and reads one given without an offset.
mlgraph must not depend on it: partitions, day buckets, history and the live feed (whose
notices carry times PostgreSQL prints itself) all stay in UTC. The database here is set to
Pacific/Kiritimati, UTC+14, so that each local date differs from the UTC one for most of the day.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from db.partitions import month_start, partition_name
from scripts.modelserver import ModelServer
from tests.conftest import AppClient
from tests.utils.api import graphql
from tests.utils.builders import create_random_prediction
from tests.utils.migrations import migrate
from tests.utils.postgres import autocommit
from tests.utils.serve import LiveClient, serve_mlgraph, wait_for_metric

ZONE = "Pacific/Kiritimati"

READS = """
query($since: DateTime!, $until: DateTime!) {
  predictions(modelName: "iris", since: $since, until: $until, first: 10) {
    edges { node { id createdAt } }
  }
  predictionStats(modelName: "iris", since: $since, until: $until, bucket: DAY) { start count }
}
"""
SUBSCRIBE = "subscription { predictionAdded { prediction { id createdAt } } }"
CLASSIFY = """
mutation($rows: [[Float!]!]!) { classify(input: {rows: $rows}) { predictions { id createdAt } } }
"""


@pytest.fixture(scope="module")
def zoned_database(postgres_databases: Callable[[], str]) -> str:
    """A migrated database whose sessions' TimeZone is ``ZONE``, migrations' included."""
    url = postgres_databases()
    name = make_url(url).database
    asyncio.run(autocommit(url, f"ALTER DATABASE \"{name}\" SET timezone TO '{ZONE}'"))
    migrate(url, "head")
    return url


@pytest.fixture
def database_url(zoned_database: str) -> Iterator[str]:
    # Overrides conftest's: app_client and session open this database instead.
    yield zoned_database
    asyncio.run(autocommit(zoned_database, "TRUNCATE predictions, classify_requests CASCADE"))


async def test_sessions_are_really_in_the_zone(session: AsyncSession) -> None:
    # Without this the other tests would prove nothing.
    assert await session.scalar(text("SHOW timezone")) == ZONE
    printed = await session.scalar(text("SELECT '2026-01-01T00:00:00+00:00'::timestamptz::text"))
    assert printed == "2026-01-01 14:00:00+14"


async def test_partitions_buckets_and_history_stay_in_utc(
    app_client: AppClient, session: AsyncSession
) -> None:
    # The last half hour of a month in UTC, which in the zone is already the next month's day.
    boundary = month_start(datetime.now(UTC), 1)
    before, after = boundary - timedelta(minutes=30), boundary + timedelta(minutes=30)
    stored = [await create_random_prediction(session, created_at=before) for _ in range(3)]
    stored.append(await create_random_prediction(session, created_at=after))
    await session.commit()

    located = await session.execute(text("SELECT id::text, tableoid::regclass FROM predictions"))
    partitions = {row_id: str(partition) for row_id, partition in located.all()}
    assert [partitions[str(row.id)] for row in stored] == [
        *[partition_name(month_start(before))] * 3,
        partition_name(boundary),
    ]

    since, until = boundary - timedelta(days=1), boundary + timedelta(days=1)
    async with app_client() as client:
        body = await graphql(client, READS, since=since.isoformat(), until=until.isoformat())
    assert "errors" not in body, body
    buckets = [(b["start"], b["count"]) for b in body["data"]["predictionStats"]]
    assert buckets == [(since.isoformat(), 3), (boundary.isoformat(), 1)]
    nodes = [edge["node"] for edge in body["data"]["predictions"]["edges"]]
    assert {node["id"]: node["createdAt"] for node in nodes} == {
        str(row.id): row.created_at.isoformat() for row in stored
    }


async def test_live_notices_carry_utc_times(
    zoned_database: str, model_server: ModelServer, tmp_path: Path
) -> None:
    # The notice's time is printed by PostgreSQL in the session's zone (db.pg_writes).
    log = tmp_path / "serve.log"
    with serve_mlgraph(zoned_database, log, MLGRAPH_MODEL_URL=model_server.url) as base:
        async with httpx.AsyncClient(base_url=base) as client, LiveClient(base) as live:
            await live.subscribe("all", SUBSCRIBE)
            await wait_for_metric(client, "mlgraph_live_subscribers", 1)
            response = await client.post(
                "/graphql", json={"query": CLASSIFY, "variables": {"rows": [[4.0, 3, 1, 0]]}}
            )
            [answered] = response.json()["data"]["classify"]["predictions"]
            message = await live.receive()
    sent = message["payload"]["data"]["predictionAdded"]["prediction"]
    assert sent == answered
    created = datetime.fromisoformat(answered["createdAt"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)
