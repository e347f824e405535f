"""mlgraph behind a real PgBouncer in transaction mode: every PostgreSQL path, two processes.

PgBouncer (tests/utils/pgbouncer.py) runs in front of the test server with fewer server
connections than the processes' pools. mlgraph is configured as the README says for it:
``MLGRAPH_DATABASE_STATEMENT_CACHE=false`` and ``MLGRAPH_LISTEN_DATABASE_URL`` pointing past the
pooler, because LISTEN needs a connection of its own. What breaks without the setting is shown
in tests/db/test_engine.py.
"""

from __future__ import annotations

import asyncio
import csv
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import AppClient
from tests.graph.test_live import SUBSCRIBE, events, ids
from tests.utils.api import CLASSIFY, error_codes, graphql
from tests.utils.pgbouncer import PgBouncer
from tests.utils.reads import read_all, window
from tests.utils.serve import (
    LiveClient,
    mlgraph_command,
    serve_mlgraph,
    stub_model,
    wait_for_metric,
)

pytestmark = pytest.mark.postgres_only

RECORD = """
mutation($requestId: String!, $labels: [String!]!) {
  recordActual(input: {requestId: $requestId, labels: $labels}) { label }
}
"""


@pytest.fixture
def model_url() -> Iterator[str]:
    with stub_model() as url:
        yield url


async def _head(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return None if version is None else str(version)
    finally:
        await engine.dispose()


async def _classify(
    client: httpx.AsyncClient, rows: list[list[float]], request_id: str
) -> tuple[list[str], bool]:
    body = await graphql(client, CLASSIFY, rows=rows, requestId=request_id)
    assert not error_codes(body), body
    result = body["data"]["classify"]
    return [p["id"] for p in result["predictions"]], result["replayed"]


async def test_every_postgresql_path_through_pgbouncer_in_transaction_mode(
    dialect: str,  # postgresql only (the marker); --db sqlite leaves it out
    postgres_databases: Callable[[], str],
    pgbouncer: PgBouncer,
    model_url: str,
    tmp_path: Path,
) -> None:
    direct = await asyncio.to_thread(postgres_databases)  # empty: migrated through PgBouncer
    pooled = pgbouncer.url(direct)
    database = direct.rsplit("/", 1)[1]
    environment = {
        "MLGRAPH_DATABASE_URL": pooled,
        "MLGRAPH_DATABASE_STATEMENT_CACHE": "false",
        "MLGRAPH_LISTEN_DATABASE_URL": direct,
        "MLGRAPH_MODEL_URL": model_url,
        "MLGRAPH_DRIFT_MIN_ROWS": "2",
    }

    migrated = await asyncio.to_thread(mlgraph_command, "migrate", **environment)
    assert migrated.returncode == 0, migrated.stderr
    assert await _head(direct) is not None

    with (
        serve_mlgraph(pooled, tmp_path / "a.log", **environment) as a,
        serve_mlgraph(pooled, tmp_path / "b.log", **environment) as b,
    ):
        async with (
            httpx.AsyncClient(base_url=a, timeout=60) as client_a,
            httpx.AsyncClient(base_url=b, timeout=60) as client_b,
            LiveClient(a) as live,
        ):
            await live.subscribe("1", SUBSCRIBE)
            await wait_for_metric(client_a, "mlgraph_live_subscribers", 1)

            # Written by B, heard by A's subscriber: NOTIFY through the pooler, LISTEN past it.
            stored: list[str] = []
            for i in range(4):
                rows = [[4.0 + i / 10, 3, 1, 0.2], [6.0 + i / 10, 3, 5, 2]]
                new, replayed = await _classify(client_b, rows, f"bounce-{i}")
                assert not replayed
                stored += new
            again, replayed = await _classify(client_a, [[4.0, 3, 1, 0.2], [6.0, 3, 5, 2]],
                                              "bounce-0")  # fmt: skip
            assert replayed
            assert again == stored[:2]
            received = (await events(live, {"1": max(stored[-2:])}))["1"]

            recorded = await graphql(
                client_a, RECORD, requestId="bounce-1", labels=["setosa", "setosa"]
            )
            assert not error_codes(recorded), recorded
            reads = await read_all(client_a)

    assert sorted(ids(received)) == sorted(stored)
    assert not any(event["replayed"] for event in received)
    assert sorted(reads.history) == sorted(stored)
    assert reads.stats_count == len(stored)
    assert reads.feature_counts == [len(stored)] * 4
    assert reads.drift_counts == (len(stored), len(stored))
    assert reads.drift_status == "NO_DRIFT"
    assert reads.performance == (len(stored), 2)
    assert sorted(reads.export) == sorted(stored)

    since, until = window()
    out = tmp_path / "week.csv"
    exported = await asyncio.to_thread(
        mlgraph_command, "export", "--since", since.isoformat(), "--until", until.isoformat(),
        "--format", "csv", "--out", str(out), **environment,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    with out.open() as file:
        assert sorted(row["id"] for row in csv.DictReader(file)) == sorted(stored)

    # All of it went through the pooler: its own counters for this database say so.
    stats = pgbouncer.stats()[database]
    assert int(stats["total_xact_count"]) > 20


async def test_no_statement_cache_without_a_listen_url_is_warned_about(
    app_client: AppClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mlgraph.app")
    async with app_client(database_statement_cache=False) as client:
        assert (await client.get("/healthz")).status_code == 200
    warned = [r.getMessage() for r in caplog.records if r.name == "mlgraph.app"]
    caplog.clear()
    async with app_client(database_statement_cache=False, listen_database_url=database_url):
        pass
    assert len(warned) == 1
    assert "MLGRAPH_LISTEN_DATABASE_URL" in warned[0]
    assert not [r for r in caplog.records if r.name == "mlgraph.app"]
