"""Three ``mlgraph serve`` processes on one PostgreSQL through PgBouncer, as three pods would be.

Concurrent classify calls spread over the three, each request id sent to two processes at the
same moment (a client's retry landing on another pod): each id must be stored once, and a
subscriber on every process must see every stored prediction exactly once. Meanwhile the three
processes' pools share the few server connections PgBouncer opens.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.graph.test_live import SUBSCRIBE, events, ids
from tests.utils.api import CLASSIFY, error_codes, graphql
from tests.utils.pgbouncer import PgBouncer
from tests.utils.serve import LiveClient, serve_mlgraph, stub_model, wait_for_metric

pytestmark = pytest.mark.postgres_only

PODS = 3
REQUESTS = 60
POOL_SIZE = 4  # PgBouncer's server connections for the database (tests/utils/pgbouncer.py)


@pytest.fixture
def model_url() -> Iterator[str]:
    with stub_model() as url:
        yield url


async def _classify(
    client: httpx.AsyncClient, rows: list[list[float]], request_id: str | None
) -> dict[str, Any]:
    body = await graphql(client, CLASSIFY, rows=rows, requestId=request_id)
    assert not error_codes(body), body
    result: dict[str, Any] = body["data"]["classify"]
    return result


async def _database(url: str) -> tuple[dict[str, int], int, int]:
    """Rows per request id, stored request ids, and this database's server connections."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT request_id, count(*) FROM predictions GROUP BY request_id")
            )
            per_id = {str(r[0]): int(r[1]) for r in rows if r[0] is not None}
            requests = await connection.scalar(text("SELECT count(*) FROM classify_requests"))
            backends = await connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            )
            return per_id, int(requests or 0), int(backends or 0)
    finally:
        await engine.dispose()


async def test_three_processes_store_each_request_once_and_every_subscriber_sees_each_row_once(
    database_url: str, pgbouncer: PgBouncer, model_url: str, tmp_path: Path
) -> None:
    pooled = pgbouncer.url(database_url)
    environment = {
        "MLGRAPH_DATABASE_STATEMENT_CACHE": "false",
        "MLGRAPH_LISTEN_DATABASE_URL": database_url,
        "MLGRAPH_MODEL_URL": model_url,
    }
    rng = random.Random(16)
    requests = {
        f"pod-{i}": [[rng.uniform(4, 7), 3, rng.uniform(1, 6), 1] for _ in range(rng.randint(1, 3))]
        for i in range(REQUESTS)
    }
    async with AsyncExitStack() as stack:
        bases = [
            stack.enter_context(serve_mlgraph(pooled, tmp_path / f"pod{n}.log", **environment))
            for n in range(PODS)
        ]
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=b, timeout=120))
            for b in bases
        ]
        lives = [await stack.enter_async_context(LiveClient(b)) for b in bases]
        for n, (client, live) in enumerate(zip(clients, lives, strict=True)):
            await live.subscribe(f"pod{n}", SUBSCRIBE)
            await wait_for_metric(client, "mlgraph_live_subscribers", 1)

        # Each id goes to two processes at once; the ids' first senders rotate over all three.
        calls = [
            _classify(clients[(i + hop) % PODS], rows, request_id)
            for i, (request_id, rows) in enumerate(requests.items())
            for hop in (0, 1)
        ]
        answers = await asyncio.gather(*calls)
        # Committed after every answer above, so announced after all of them, on every process.
        sentinel = (await _classify(clients[0], [[7.0, 3, 6, 2]], None))["predictions"][0]["id"]
        received = [
            (await events(live, {f"pod{n}": sentinel}))[f"pod{n}"] for n, live in enumerate(lives)
        ]
        per_id, stored_requests, backends = await _database(database_url)

    stored: list[str] = []
    for i, request_id in enumerate(requests):
        first, second = answers[2 * i], answers[2 * i + 1]
        first_ids = [p["id"] for p in first["predictions"]]
        # One of the two stored the rows; the other answered with those same rows.
        assert sorted([first["replayed"], second["replayed"]]) == [False, True], request_id
        assert [p["id"] for p in second["predictions"]] == first_ids, request_id
        assert per_id[request_id] == len(requests[request_id]), request_id
        stored += first_ids
    assert stored_requests == REQUESTS
    assert sum(per_id.values()) == len(stored)
    for n, events_seen in enumerate(received):
        counts = Counter(ids(events_seen))
        assert set(counts) == {*stored, sentinel}, f"pod{n} missed or invented rows"
        assert max(counts.values()) == 1, f"pod{n} saw a row twice"
    # Three pools of up to 20 connections each went through PoolSize server connections
    # (plus each process's direct LISTEN connection and the query counting them).
    assert backends <= POOL_SIZE + PODS + 1
    database = make_url(database_url).database
    assert database is not None
    assert int(pgbouncer.stats()[database]["total_xact_count"]) >= REQUESTS
