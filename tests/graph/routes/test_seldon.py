"""Seldon v1's /api/v1.0/predictions at mlgraph, against the real seldon-core microservice, on
PostgreSQL and SQLite: the model's own answer with the stored puid, stored as classify stores."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from scripts.modelserver import ModelServer
from tests.conftest import AppClient
from tests.utils.api import IRIS_ROWS, graphql

pytestmark = pytest.mark.model_server

IRIS_NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
HISTORY = """query { predictions(modelName: "iris", first: 50) {
  edges { node { requestId features label modelVersion } } } }"""


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(db.Prediction))) or 0


async def _direct(server: ModelServer, body: dict[str, Any]) -> httpx.Response:
    """What the microservice itself answers ``body``."""
    async with httpx.AsyncClient() as http:
        return await http.post(server.url + "/api/v1.0/predictions", json=body)


def _seldon_and_v2(seldon: ModelServer, mlserver: ModelServer) -> list[dict[str, str]]:
    """A Seldon v1 model and a V2 one, for the paths that must tell them apart."""
    return [
        {"name": "iris", "url": seldon.url},
        {"name": "iris-v2", "protocol": "v2", "url": mlserver.url, "v2_name": "iris"},
    ]


def _failure(response: httpx.Response, status: int, reason: str) -> str:
    body = response.json()
    assert response.status_code == status, response.text
    assert set(body) == {"status"}, body
    assert body["status"]["status"] == "FAILURE"
    assert (body["status"]["code"], body["status"]["reason"]) == (status, reason)
    info: str = body["status"]["info"]
    return info


async def test_the_answer_is_the_models_own_and_the_rows_are_stored(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    async with app_client(model_url=model_server.url) as client:
        response = await client.post("/api/v1.0/predictions", json={"data": {"ndarray": IRIS_ROWS}})
        assert response.status_code == 200, response.text
        puid = response.json()["meta"]["puid"]
        history = await graphql(client, HISTORY)
    # Byte for byte what the microservice answers the same rows with that puid.
    direct = await _direct(
        model_server, {"data": {"names": IRIS_NAMES, "ndarray": IRIS_ROWS}, "meta": {"puid": puid}}
    )
    assert response.content == direct.content
    nodes = [edge["node"] for edge in history["data"]["predictions"]["edges"]]
    assert sorted(n["features"] for n in nodes) == sorted(IRIS_ROWS)
    assert {n["requestId"] for n in nodes} == {puid}
    assert sorted(n["label"] for n in nodes) == ["setosa", "versicolor", "virginica"]
    assert {n["modelVersion"] for n in nodes} == {"iris-test-1"}


async def test_the_seed_rows_of_three_features_are_refused_in_seldons_shape(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    async with app_client(model_url=model_server.url) as client:
        response = await client.post(
            "/api/v1.0/predictions", json={"data": {"ndarray": [[1, 3, 3]]}}
        )
    info = _failure(response, 400, "BAD_USER_INPUT")
    assert "expects 4 features per row (sepal_length, sepal_width" in info
    assert "got 3 in row 0" in info
    assert await _count(session) == 0


async def test_tensor_names_and_json_data_as_the_wrapper_reads_them(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    tensor = {"shape": [3, 4], "values": [v for row in IRIS_ROWS for v in row]}
    reordered = [IRIS_NAMES[3], *IRIS_NAMES[:3]]
    records = [dict(zip(IRIS_NAMES, row, strict=True)) for row in IRIS_ROWS]
    async with app_client(model_url=model_server.url) as client:
        as_tensor = await client.post("/api/v1.0/predictions", json={"data": {"tensor": tensor}})
        named = await client.post(
            "/api/v1.0/predictions",
            json={"data": {"names": reordered, "ndarray": [[r[3], *r[:3]] for r in IRIS_ROWS]}},
        )
        json_data = await client.post("/api/v1.0/predictions", json={"jsonData": records})
    # A tensor request gets the tensor answer the microservice gives it.
    direct = await _direct(model_server, {"data": {"tensor": tensor}})
    expected: dict[str, Any] = direct.json()
    assert as_tensor.json()["data"] == expected["data"]
    for response in (named, json_data):
        assert response.status_code == 200, response.text
        assert response.json()["data"]["names"] == ["setosa", "versicolor", "virginica"]
    # Named columns are stored in the model's feature order, as classify stores them.
    stored = [row.features for row in (await session.scalars(select(db.Prediction))).all()]
    assert sorted(stored) == sorted(IRIS_ROWS * 3)


async def test_a_client_puid_replays_and_conflicts_as_a_request_id(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    body = {"data": {"ndarray": IRIS_ROWS[:2]}, "meta": {"puid": "order-7"}}
    async with app_client(model_url=model_server.url) as client:
        first = await client.post("/api/v1.0/predictions", json=body)
        again = await client.post("/api/v1.0/predictions", json=body)
        other = await client.post(
            "/api/v1.0/predictions",
            json={"data": {"ndarray": IRIS_ROWS[2:]}, "meta": {"puid": "order-7"}},
        )
    assert first.json()["meta"]["puid"] == "order-7"
    assert "mlgraph-replayed" not in first.headers
    assert again.headers["mlgraph-replayed"] == "true"
    # Rebuilt from what was stored: the same classes and probabilities.
    assert again.json() == {**first.json(), "meta": {"puid": "order-7"}}
    assert "meta.puid was already used for different rows" in _failure(other, 409, "CONFLICT")
    assert await _count(session) == 2


async def test_the_model_is_the_paths_deployment_a_header_or_the_default(
    app_client: AppClient, model_server: ModelServer, mlserver: ModelServer
) -> None:
    models = _seldon_and_v2(model_server, mlserver)
    body = {"data": {"ndarray": IRIS_ROWS[:1]}}
    async with app_client(models=models) as client:
        ok = [
            await client.post(path, json=body)
            for path in (
                "/seldon/models/iris/api/v1.0/predictions",
                "/seldon/iris/api/v1.0/predictions",
                "/api/v1.0/predictions",
            )
        ]
        by_header = await client.post(
            "/api/v1.0/predictions", json=body, headers={"Seldon-Model": "iris"}
        )
        unknown = await client.post("/seldon/models/nope/api/v1.0/predictions", json=body)
        other_protocol = await client.post("/seldon/iris-v2/api/v1.0/predictions", json=body)
    assert [r.status_code for r in [*ok, by_header]] == [200] * 4
    assert "configured: iris, iris-v2" in _failure(unknown, 404, "NOT_FOUND")
    assert "POST /v2/models/iris/infer" in _failure(other_protocol, 404, "NOT_FOUND")


async def test_failures_store_nothing_and_answer_in_seldons_shape(
    app_client: AppClient, session: AsyncSession
) -> None:
    down = httpx.MockTransport(lambda request: httpx.Response(503, text="upstream down"))
    body = {"data": {"ndarray": IRIS_ROWS[:1]}}
    async with app_client(transport=down, model_version="v1", model_retries=0) as client:
        unavailable = await client.post("/api/v1.0/predictions", json=body)
        not_json = await client.post("/api/v1.0/predictions", content=b"{")
        text = await client.post("/api/v1.0/predictions", json={"strData": "hello"})
        nan = await client.post(
            "/api/v1.0/predictions", content=b'{"data": {"ndarray": [[NaN, 1, 1, 1]]}}'
        )
    _failure(unavailable, 503, "MODEL_UNAVAILABLE")
    assert "not JSON" in _failure(not_json, 400, "BAD_USER_INPUT")
    assert "strData is not tabular data" in _failure(text, 400, "BAD_USER_INPUT")
    assert "not a finite number" in _failure(nan, 400, "BAD_USER_INPUT")
    assert await _count(session) == 0


async def test_oversized_bodies_and_api_keys_answer_in_seldons_shape(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    from graph.auth import generate_key, hash_key

    predict_key, read_key = generate_key(), generate_key()
    await db.apikeys.create_api_key(
        session, name="p", scope="predict", prefix=predict_key[:12], key_hash=hash_key(predict_key)
    )
    await db.apikeys.create_api_key(
        session, name="r", scope="read", prefix=read_key[:12], key_hash=hash_key(read_key)
    )
    await session.commit()
    body = {"data": {"ndarray": IRIS_ROWS[:1]}}
    async with app_client(model_url=model_server.url, max_body_bytes=2048) as client:
        anonymous = await client.post("/api/v1.0/predictions", json=body)
        reader = await client.post(
            "/api/v1.0/predictions", json=body, headers={"Authorization": f"Bearer {read_key}"}
        )
        allowed = await client.post(
            "/seldon/iris/api/v1.0/predictions",
            json=body,
            headers={"Authorization": f"Bearer {predict_key}"},
        )
        too_large = await client.post(
            "/api/v1.0/predictions", json={"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]] * 200}}
        )
    _failure(anonymous, 401, "UNAUTHENTICATED")
    _failure(reader, 403, "FORBIDDEN")
    assert allowed.status_code == 200, allowed.text
    _failure(too_large, 413, "PAYLOAD_TOO_LARGE")
    assert await _count(session) == 1


async def test_metadata_is_the_models_own_under_each_path(
    app_client: AppClient, model_server: ModelServer, mlserver: ModelServer
) -> None:
    models = _seldon_and_v2(model_server, mlserver)
    async with httpx.AsyncClient() as http:
        direct = await http.get(model_server.url + "/api/v1.0/metadata")
    async with app_client(models=models) as client:
        answers = [
            await client.get(path)
            for path in (
                "/api/v1.0/metadata",
                "/seldon/models/iris/api/v1.0/metadata",
                "/seldon/iris/api/v1.0/metadata",
            )
        ]
        unknown = await client.get("/seldon/nope/api/v1.0/metadata")
        other_protocol = await client.get("/seldon/iris-v2/api/v1.0/metadata")
    assert direct.status_code == 200
    assert "versions" in direct.json()
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.content == direct.content
    assert "configured: iris, iris-v2" in _failure(unknown, 404, "NOT_FOUND")
    assert "POST /v2/models/iris/infer" in _failure(other_protocol, 404, "NOT_FOUND")


async def test_metadata_of_a_model_that_is_down_answers_model_unavailable(
    app_client: AppClient,
) -> None:
    async with app_client(models=[{"name": "iris", "url": "http://127.0.0.1:1"}]) as client:
        response = await client.get("/api/v1.0/metadata")
    assert "cannot connect to the model server" in _failure(response, 503, "MODEL_UNAVAILABLE")
