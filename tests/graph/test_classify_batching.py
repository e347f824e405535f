"""Adaptive batching through classify, against the real Seldon microservice and MLServer.

Many concurrent callers each get their own rows' predictions with the model's version and
store exactly those; one caller with rows the model cannot answer fails alone; models and
switched-off models never share a request; /metrics counts rows per model call.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from graph.app import create_app
from graph.context import State
from graph.settings import Settings
from mlclient import SeldonClient, V2Client
from scripts.modelserver import ModelServer
from tests.utils.api import error_codes
from tests.utils.transports import Recording, Rows

pytestmark = pytest.mark.model_server

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
OVERFLOW = [1e308, 1e308, 1e308, 1e308]  # accepted by mlgraph; the model answers NaN for it
CLASSIFY = """
mutation Classify($rows: [[Float!]!]!, $model: String) {
  classify(input: {rows: $rows, modelName: $model}) {
    predictions { id features label modelName modelVersion latencyMs
                  probabilities { label probability } }
  }
}
"""


@asynccontextmanager
async def _mlgraph(
    database_url: str, transport: httpx.AsyncBaseTransport | None = None, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, State]]:
    """mlgraph (lifespan included) and the state its lifespan made, to look at the batchers."""
    app = create_app(Settings(database_url=database_url, **settings), model_transport=transport)
    async with LifespanManager(app) as manager:
        state = cast(State, manager._state)  # asgi-lifespan keeps the lifespan's state here
        asgi = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=asgi, base_url="http://mlgraph") as client:
            yield client, state


def _calls(count: int, *, seed: int) -> list[Rows]:
    rng = random.Random(seed)
    return [
        [
            [round(rng.uniform(4.3, 7.9), 2), round(rng.uniform(2.0, 4.4), 2),
             round(rng.uniform(1.0, 6.9), 2), round(rng.uniform(0.1, 2.5), 2)]
            for _ in range(rng.randint(1, 4))
        ]
        for _ in range(count)
    ]  # fmt: skip


async def _classify(client: httpx.AsyncClient, rows: Rows, model: str | None = None) -> Any:
    response = await client.post(
        "/graphql", json={"query": CLASSIFY, "variables": {"rows": rows, "model": model}}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _rows_per_call(text: str, model: str) -> tuple[float, float]:
    """(model calls, rows sent) of ``model`` from a /metrics scrape."""
    found = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(text):
        if family.name != "mlgraph_model_rows_per_call":
            continue
        for sample in family.samples:
            kind = sample.name.rsplit("_", 1)[1]
            if kind in found and sample.labels.get("model") == model:
                found[kind] = sample.value
    return found["count"], found["sum"]


async def _warm_up(client: httpx.AsyncClient, model: str | None = None) -> None:
    # The first call reads what later ones find cached (whether API keys are on, the model's
    # version), so the calls that follow reach the batcher in the order they were sent.
    assert "errors" not in await _classify(client, [[5.0, 3.0, 1.5, 0.2]], model)


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(db.Prediction))) or 0


@pytest.fixture(params=["seldon", "mlserver"])
def server(request: pytest.FixtureRequest) -> ModelServer:
    found: ModelServer = request.getfixturevalue(
        "model_server" if request.param == "seldon" else "mlserver"
    )
    return found


def _settings(server: ModelServer) -> dict[str, Any]:
    if server.kind == "mlserver":
        return {"model_url": server.url, "model_protocol": "v2", "model_class_names": IRIS_CLASSES}
    return {"model_url": server.url}


async def _alone(server: ModelServer, calls: list[Rows]) -> list[list[str]]:
    """Each call's labels from the model itself, one request per call."""
    async with httpx.AsyncClient() as http:
        client: SeldonClient | V2Client
        if server.kind == "mlserver":
            client = V2Client(http, name="iris", base_url=server.url, class_names=IRIS_CLASSES,
                              probabilities=True)  # fmt: skip
        else:
            client = SeldonClient(http, name="iris", base_url=server.url)
        return [[row.label for row in (await client.predict(rows)).rows] for rows in calls]


async def test_concurrent_callers_get_and_store_their_own_predictions(
    database_url: str, server: ModelServer, session: AsyncSession
) -> None:
    calls = _calls(30, seed=21)
    async with _mlgraph(database_url, model_max_wait=60, **_settings(server)) as (client, state):
        await _warm_up(client)
        batcher = state["models"].get("iris").client
        calls_before = batcher.calls
        before = _rows_per_call((await client.get("/metrics")).text, "iris")
        bodies = await asyncio.gather(*(_classify(client, rows) for rows in calls))
        after = _rows_per_call((await client.get("/metrics")).text, "iris")
    expected = await _alone(server, calls)
    version = "iris-v2-test-1" if server.kind == "mlserver" else "iris-test-1"

    ids = []
    for rows, labels, body in zip(calls, expected, bodies, strict=True):
        assert "errors" not in body, body
        predictions = body["data"]["classify"]["predictions"]
        assert [p["features"] for p in predictions] == rows
        assert [p["label"] for p in predictions] == labels
        assert {p["modelVersion"] for p in predictions} == {version}
        ids += [p["id"] for p in predictions]
    assert await _count(session) == len(ids) + 1 == sum(map(len, calls)) + 1
    # Fewer model calls than classify calls, every row sent once, all counted at /metrics.
    model_calls, rows_sent = after[0] - before[0], after[1] - before[1]
    assert model_calls == batcher.calls - calls_before < len(calls)
    assert rows_sent == sum(map(len, calls))


async def test_one_bad_caller_in_a_batch_fails_alone(
    database_url: str, model_server: ModelServer, session: AsyncSession
) -> None:
    calls = _calls(8, seed=22)
    calls[5] = [OVERFLOW, OVERFLOW]
    recording = Recording()
    async with _mlgraph(database_url, recording, model_url=model_server.url, model_max_wait=60) as (
        client,
        _,
    ):
        await _warm_up(client)
        bodies = await asyncio.gather(*(_classify(client, rows) for rows in calls))

    assert error_codes(bodies[5]) == ["BAD_MODEL_RESPONSE"]
    good = [b for i, b in enumerate(bodies) if i != 5]
    assert all("errors" not in b for b in good), good
    assert await _count(session) == 1 + sum(len(rows) for i, rows in enumerate(calls) if i != 5)
    # The bad rows did reach the model inside a shared request before the retry alone.
    assert any(OVERFLOW in r and len(r) > 2 for r in recording.requests), recording.requests


async def test_models_and_switched_off_models_never_share_a_request(
    database_url: str, model_server: ModelServer
) -> None:
    names = ["iris", "iris-b", "iris-off"]
    models: list[dict[str, object]] = [{"name": name, "url": model_server.url} for name in names]
    models[2]["batching"] = False
    calls = _calls(36, seed=23)
    owner = {json.dumps(row): names[i % 3] for i, rows in enumerate(calls) for row in rows}
    recording = Recording()
    async with _mlgraph(database_url, recording, models=models, model_max_wait=60) as (client, _):
        for name in names:
            await _warm_up(client, name)
        del recording.requests[:]
        bodies = await asyncio.gather(
            *(_classify(client, rows, names[i % 3]) for i, rows in enumerate(calls))
        )
    for i, body in enumerate(bodies):
        assert "errors" not in body, body
        assert {p["modelName"] for p in body["data"]["classify"]["predictions"]} == {names[i % 3]}

    by_model: dict[str, list[int]] = {name: [] for name in names}
    for request in recording.requests:
        (model,) = {owner[json.dumps(row)] for row in request}
        by_model[model].append(len(request))
    # Batched models sent fewer requests than they had callers; the switched-off one, one each.
    assert len(by_model["iris"]) < 12
    assert len(by_model["iris-b"]) < 12
    assert sorted(by_model["iris-off"]) == sorted(len(c) for c in calls[2::3])


async def test_batching_settings_reach_each_model(database_url: str) -> None:
    models = [
        {"name": "a", "url": "http://127.0.0.1:1"},
        {"name": "b", "url": "http://127.0.0.1:1", "batching": False, "max_batch_rows": 7,
         "max_wait": "500ms"},
    ]  # fmt: skip
    async with _mlgraph(
        database_url, models=models, model_max_batch_rows=64, model_max_wait="2ms"
    ) as (_, state):
        a, b = (state["models"].get(name).client for name in ("a", "b"))
    assert (a.enabled, a.max_batch_rows, a.max_wait) == (True, 64, 0.002)
    assert (b.enabled, b.max_batch_rows, b.max_wait) == (False, 7, 0.5)
