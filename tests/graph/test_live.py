"""The predictionAdded subscription, end to end: real ``mlgraph serve`` processes, a real
WebSocket client speaking graphql-transport-ws, on SQLite and PostgreSQL.

Each test waits for ``mlgraph_live_subscribers`` at ``/metrics`` before classifying, so that
"subscribed" means the server has registered the subscription, not merely received the message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import db
from graph.auth import generate_key, hash_key
from tests.utils.serve import (
    LiveClient,
    metric,
    serve_mlgraph,
    stub_label,
    stub_model,
    wait_for_metric,
)

SUBSCRIBE = """
subscription Live($modelName: String, $label: String, $after: String) {
  predictionAdded(modelName: $modelName, label: $label, after: $after) {
    cursor replayed dropped prediction { id modelName label features }
  }
}
"""
CLASSIFY = """
mutation Classify($rows: [[Float!]!]!, $modelName: String) {
  classify(input: {rows: $rows, modelName: $modelName}) { predictions { id label modelName } }
}
"""
SUBSCRIBERS = "mlgraph_live_subscribers"


@pytest.fixture
def model_url() -> Iterator[str]:
    with stub_model() as url:
        yield url


def _models(url: str) -> str:
    return json.dumps(
        [{"name": n, "url": url, "version": "v1"} for n in ("iris", "other")],
    )


async def classify(
    client: httpx.AsyncClient, rows: list[list[float]], model_name: str | None = None
) -> list[str]:
    """Classify through the API; the ids of the stored predictions."""
    response = await client.post(
        "/graphql",
        json={"query": CLASSIFY, "variables": {"rows": rows, "modelName": model_name}},
        timeout=60,
    )
    body = response.json()
    assert "errors" not in body, body
    return [p["id"] for p in body["data"]["classify"]["predictions"]]


async def events(live: LiveClient, until: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Events per subscription id, read until each subscription has sent the id in ``until``."""
    received: dict[str, list[dict[str, Any]]] = {sub: [] for sub in until}
    done: set[str] = set()
    while done != set(until):
        message = await live.receive()
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event = message["payload"]["data"]["predictionAdded"]
        received[message["id"]].append(event)
        if event["prediction"]["id"] == until[message["id"]]:
            done.add(message["id"])
    return received


def ids(received: list[dict[str, Any]]) -> list[str]:
    return [event["prediction"]["id"] for event in received]


async def test_classify_reaches_subscribers_by_model_and_label(
    database_url: str, model_url: str, tmp_path: Path
) -> None:
    with serve_mlgraph(
        database_url, tmp_path / "serve.log", MLGRAPH_MODELS=_models(model_url)
    ) as base:
        async with httpx.AsyncClient(base_url=base) as client, LiveClient(base) as live:
            await live.subscribe("all", SUBSCRIBE)
            await live.subscribe("virginica", SUBSCRIBE, label="virginica")
            await live.subscribe("other", SUBSCRIBE, modelName="other")
            await wait_for_metric(client, SUBSCRIBERS, 3)

            iris = await classify(client, [[4.0, 3, 1, 0.2], [6.0, 3, 5, 2], [4.5, 3, 1, 0.2]])
            other = await classify(client, [[6.5, 3, 5, 2]], "other")
            # Last, and seen by every subscription: everything before it has been sent.
            [sentinel] = await classify(client, [[7.0, 3, 6, 2]], "other")
            received = await events(live, {s: sentinel for s in ("all", "virginica", "other")})

    # Events come in cursor order (createdAt, then id): within one call, not row order.
    assert sorted(ids(received["all"][:3])) == sorted(iris)
    assert ids(received["all"])[3:] == [*other, sentinel]
    assert ids(received["virginica"]) == [iris[1], *other, sentinel]
    assert ids(received["other"]) == [*other, sentinel]
    labels = {e["prediction"]["id"]: e["prediction"]["label"] for e in received["all"]}
    assert [labels[i] for i in iris] == [stub_label([x]) for x in (4.0, 6.0, 4.5)]
    assert {e["prediction"]["modelName"] for e in received["all"][:3]} == {"iris"}
    assert not any(e["replayed"] or e["dropped"] for e in received["all"])


async def test_reconnect_with_after_sends_missed_rows_first_exactly_once(
    database_url: str, model_url: str, tmp_path: Path
) -> None:
    with serve_mlgraph(database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_url) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            async with LiveClient(base) as live:
                await live.subscribe("1", SUBSCRIBE)
                await wait_for_metric(client, SUBSCRIBERS, 1)
                seen = await classify(client, [[4.0, 3, 1, 0.2], [6.0, 3, 5, 2]])
                received = (await events(live, {"1": max(seen)}))["1"]
                # Two rows of one call share createdAt: cursor order is then id order.
                assert ids(received) == sorted(seen)
                cursor = received[-1]["cursor"]
            await wait_for_metric_zero(client)

            # Disconnected: these must come first, from the database, on reconnect.
            missed = await classify(client, [[5.5, 3, 4, 1]]) + await classify(
                client, [[4.2, 3, 1, 0.2], [6.1, 3, 5, 2]]
            )
            async with LiveClient(base) as live:
                await live.subscribe("2", SUBSCRIBE, after=cursor)
                await wait_for_metric(client, SUBSCRIBERS, 1)
                [new] = await classify(client, [[6.3, 3, 5, 2]])
                [sentinel] = await classify(client, [[6.4, 3, 5, 2]])
                again = (await events(live, {"2": sentinel}))["2"]

    # Replayed rows come in cursor order (createdAt, then id), which within one call is not
    # row order; live ones come as committed.
    assert sorted(ids(again[: len(missed)])) == sorted(missed)
    assert ids(again)[len(missed) :] == [new, sentinel]
    assert [e["replayed"] for e in again[: len(missed)]] == [True] * len(missed)


async def wait_for_metric_zero(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        if await metric(client, SUBSCRIBERS) == 0:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the closed subscription was never unregistered")


async def test_slow_subscriber_does_not_hold_up_classify_and_drops_are_counted(
    database_url: str, model_url: str, tmp_path: Path
) -> None:
    environment = {"MLGRAPH_MODEL_URL": model_url, "MLGRAPH_LIVE_QUEUE_SIZE": "3"}
    with serve_mlgraph(database_url, tmp_path / "serve.log", **environment) as base:
        async with httpx.AsyncClient(base_url=base) as client, LiveClient(base) as live:
            await live.subscribe("1", SUBSCRIBE)
            await wait_for_metric(client, SUBSCRIBERS, 1)
            dropped_before = await metric(client, "mlgraph_live_dropped_total")

            # The subscriber reads nothing while these run: each is answered all the same.
            stored = await classify(client, [[4.0 + i / 100, 3, 1, 0.2] for i in range(50)])
            for i in range(5):
                stored += await classify(client, [[6.0 + i / 10, 3, 5, 2]])
            # One notice per row arrives at once: 3 fit in the queue, the other 47 are dropped.
            dropped = await metric(client, "mlgraph_live_dropped_total") - dropped_before
            assert dropped >= 47

            [sentinel] = await classify(client, [[6.9, 3, 5, 2]])
            received = (await events(live, {"1": sentinel}))["1"]

    # Nothing is lost (the subscriber caught up from the table) and nothing is sent twice.
    # (Replayed rows come in cursor order, which within one call is not row order.)
    assert sorted(ids(received)) == sorted([*stored, sentinel])
    assert ids(received)[-1] == sentinel
    assert any(event["replayed"] for event in received)
    assert received[-1]["dropped"] >= 47


@pytest.mark.postgres_only
async def test_classify_in_another_process_reaches_the_subscriber(
    database_url: str, model_url: str, tmp_path: Path
) -> None:
    with (
        serve_mlgraph(database_url, tmp_path / "a.log", MLGRAPH_MODEL_URL=model_url) as a,
        serve_mlgraph(database_url, tmp_path / "b.log", MLGRAPH_MODEL_URL=model_url) as b,
    ):
        async with (
            httpx.AsyncClient(base_url=a) as client_a,
            httpx.AsyncClient(base_url=b) as client_b,
            LiveClient(a) as live,
        ):
            await live.subscribe("1", SUBSCRIBE)
            await wait_for_metric(client_a, SUBSCRIBERS, 1)
            stored = await classify(client_b, [[4.0, 3, 1, 0.2], [6.0, 3, 5, 2]])
            # One call's rows share createdAt, so they come in id order (cursor order).
            received = (await events(live, {"1": max(stored)}))["1"]
            # Only LISTEN/NOTIFY could have told process A: it was never asked to classify.
            assert "mlgraph_predictions_total{" not in (await client_a.get("/metrics")).text
            assert "mlgraph_predictions_total{" in (await client_b.get("/metrics")).text

    assert ids(received) == sorted(stored)
    assert not any(event["replayed"] for event in received)


async def test_api_key_in_connection_init_when_keys_are_on(
    database_url: str, model_url: str, tmp_path: Path
) -> None:
    # Browsers cannot set headers on a WebSocket: the key comes in connection_init instead.
    engine = db.make_engine(database_url)
    key = generate_key()
    async with db.make_sessionmaker(engine).begin() as session:
        await db.apikeys.create_api_key(
            session, name="live", scope="admin", prefix=key[:12], key_hash=hash_key(key)
        )
    await engine.dispose()
    headers = {"authorization": f"Bearer {key}"}

    with serve_mlgraph(database_url, tmp_path / "serve.log", MLGRAPH_MODEL_URL=model_url) as base:
        async with LiveClient(base) as anonymous:
            await anonymous.subscribe("1", SUBSCRIBE)
            refused = await anonymous.receive()
        async with (
            httpx.AsyncClient(base_url=base, headers=headers) as client,
            LiveClient(base, payload=headers) as live,
        ):
            await live.subscribe("2", SUBSCRIBE)
            await wait_for_metric(client, SUBSCRIBERS, 1)
            [prediction] = await classify(client, [[6.0, 3, 5, 2]])
            received = (await events(live, {"2": prediction}))["2"]

    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
    assert ids(received) == [prediction]
