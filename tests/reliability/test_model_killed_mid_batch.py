"""A model server killed while a batch of classify calls is in flight, then restarted.

The seldon-core server is paused (SIGSTOP) so that one model call is in flight and nine classify
calls queue behind it, then its whole process tree is killed. Every caller must get
MODEL_UNAVAILABLE and nothing may be stored; the circuit breaker must have counted two failed
model calls (the one in flight, then the batch of nine, refused), not ten callers, so the
restarted model is called at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from graph.app import create_app
from graph.context import State
from graph.settings import Settings
from scripts.modelserver import free_port
from tests.utils.api import CLASSIFY, IRIS_ROWS, error_codes, graphql
from tests.utils.processes import RestartableSeldon

pytestmark = pytest.mark.model_server

CALLERS = 10


@pytest.fixture
def model(tmp_path: Path) -> Iterator[RestartableSeldon]:
    model = RestartableSeldon(tmp_path, free_port(), version="killed-1")
    try:
        model.start()
        yield model
    finally:
        model.kill()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):  # at most ~30 s
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the calls never reached the batcher")


async def test_every_caller_of_a_killed_batch_fails_and_the_breaker_counts_it_once(
    database_url: str, model: RestartableSeldon, session: AsyncSession
) -> None:
    settings = Settings(
        database_url=database_url,
        model_url=model.url,
        # Only the end of the call in flight releases the queue: one batch of nine, exactly.
        model_max_wait=60,
        breaker_failures=3,
        breaker_reset_seconds=60,
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        batcher = cast(State, manager._state)["models"].get("iris").client
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mlgraph") as client:
            assert "errors" not in await graphql(client, CLASSIFY, rows=IRIS_ROWS)
            calls_before = batcher.calls

            model.pause()
            callers = [
                asyncio.create_task(graphql(client, CLASSIFY, rows=[row]))
                for row in (IRIS_ROWS * CALLERS)[:CALLERS]
            ]
            await _until(lambda: batcher.in_flight == 1 and batcher.queued == CALLERS - 1)
            await asyncio.to_thread(model.kill)
            bodies = await asyncio.gather(*callers)

            assert [error_codes(b) for b in bodies] == [["MODEL_UNAVAILABLE"]] * CALLERS
            assert all(b["data"] is None for b in bodies)
            assert batcher.calls - calls_before == 2

            await asyncio.to_thread(model.start)
            # Two failures, under the threshold of three: the circuit is closed and the
            # restarted model answers the very next call.
            after = await graphql(client, CLASSIFY, rows=IRIS_ROWS[:1])
    assert "errors" not in after, after
    assert after["data"]["classify"]["predictions"][0]["modelVersion"] == "killed-1"
    assert await _count(session) == len(IRIS_ROWS) + 1


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(db.Prediction))) or 0
