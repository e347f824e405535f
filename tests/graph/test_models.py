"""Several models, either protocol: the same GraphQL calls against real Seldon and MLServer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from scripts.modelserver import ModelServer, free_port
from tests.conftest import AppClient
from tests.utils.api import IRIS_ROWS, error_codes, graphql

CLASSES = ["setosa", "versicolor", "virginica"]
CLASSIFY_MODEL = """
mutation($rows: [[Float!]!]!, $model: String) {
  classify(input: {rows: $rows, modelName: $model}) {
    predictions { modelName modelVersion label probabilities { label probability } }
  }
}
"""
MODELS = """{ models { name protocol isDefault ready featureCount features { name kind }
                       featuresFrom inputs { name datatype shape } } }"""
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _models(seldon: ModelServer, mlserver: ModelServer) -> list[dict[str, Any]]:
    return [
        {"name": "iris-v1", "protocol": "seldon", "url": seldon.url},
        {
            "name": "iris-v2",
            "protocol": "v2",
            "url": mlserver.url,
            "v2_name": "iris",
            "class_names": CLASSES,
        },
    ]


@pytest.fixture(params=["seldon", "v2"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings for one real model server of either protocol, serving the same iris model."""
    if request.param == "seldon":
        server: ModelServer = request.getfixturevalue("model_server")
        return {"model_url": server.url}
    server = request.getfixturevalue("mlserver")
    return {"model_url": server.url, "model_protocol": "v2", "model_class_names": CLASSES}


async def test_classify_is_the_same_on_either_protocol(
    app_client: AppClient, session: AsyncSession, backend: dict[str, Any]
) -> None:
    async with app_client(**backend) as client:
        body = await graphql(client, CLASSIFY_MODEL, rows=IRIS_ROWS)
    assert "errors" not in body, body
    predictions = body["data"]["classify"]["predictions"]
    assert [p["label"] for p in predictions] == ["setosa", "virginica", "versicolor"]
    for p in predictions:
        assert [c["label"] for c in p["probabilities"]] == CLASSES
        assert sum(c["probability"] for c in p["probabilities"]) == pytest.approx(1.0)
    stored = (await session.scalars(select(db.Prediction))).all()
    assert sorted(r.label for r in stored) == ["setosa", "versicolor", "virginica"]
    assert {r.model_version for r in stored} <= {"iris-test-1", "iris-v2-test-1"}
    assert all(r.model_version != "unknown" for r in stored)


async def test_two_models_each_reached_by_name(
    app_client: AppClient, model_server: ModelServer, mlserver: ModelServer
) -> None:
    async with app_client(models=_models(model_server, mlserver)) as client:
        v1 = await graphql(client, CLASSIFY_MODEL, rows=IRIS_ROWS[:1], model="iris-v1")
        v2 = await graphql(client, CLASSIFY_MODEL, rows=IRIS_ROWS[:1], model="iris-v2")
        default = await graphql(client, CLASSIFY_MODEL, rows=IRIS_ROWS[:1])
        unknown = await graphql(client, CLASSIFY_MODEL, rows=IRIS_ROWS[:1], model="nope")
        narrow = await graphql(client, CLASSIFY_MODEL, rows=[[1.0, 2.0]], model="iris-v2")
        listing = await graphql(client, MODELS)
        ready = await client.get("/readyz")

    def first(body: dict[str, Any]) -> dict[str, Any]:
        prediction: dict[str, Any] = body["data"]["classify"]["predictions"][0]
        return prediction

    assert (first(v1)["modelName"], first(v1)["modelVersion"]) == ("iris-v1", "iris-test-1")
    assert (first(v2)["modelName"], first(v2)["modelVersion"]) == ("iris-v2", "iris-v2-test-1")
    assert first(v1)["label"] == first(v2)["label"] == "setosa"
    assert first(default)["modelName"] == "iris-v1"
    assert error_codes(unknown) == ["BAD_USER_INPUT"]
    assert "iris-v1, iris-v2" in unknown["errors"][0]["message"]
    # The width comes from MLServer's metadata; the model is not called with a wrong width.
    assert error_codes(narrow) == ["BAD_USER_INPUT"]
    assert narrow["errors"][0]["extensions"]["expected"] == 4

    models = {m["name"]: m for m in listing["data"]["models"]}
    # The Seldon model names its features in /api/v1.0/metadata (deploy/model/IrisClassifier.py).
    assert models["iris-v1"] == {
        "name": "iris-v1",
        "protocol": "seldon",
        "isDefault": True,
        "ready": True,
        "featureCount": 4,
        "features": [{"name": name, "kind": "NUMERICAL"} for name in IRIS_FEATURES],
        "featuresFrom": "METADATA",
        "inputs": [],
    }
    assert models["iris-v2"]["protocol"] == "v2"
    assert models["iris-v2"]["ready"] is True
    assert models["iris-v2"]["featureCount"] == 4
    # MLServer declares one [-1, 4] tensor: four numerical features, named by position.
    assert models["iris-v2"]["features"] == [
        {"name": f"f{i}", "kind": "NUMERICAL"} for i in range(4)
    ]
    assert models["iris-v2"]["featuresFrom"] == "METADATA"
    assert models["iris-v2"]["inputs"] == [
        {"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}
    ]
    assert ready.json()["checks"]["models"] == {"iris-v1": "ok", "iris-v2": "ok"}


async def test_configured_width_rejects_before_calling_the_model(app_client: AppClient) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"data": {"ndarray": ["a"]}})

    async with app_client(transport=httpx.MockTransport(handler), model_features=4) as client:
        body = await graphql(client, CLASSIFY_MODEL, rows=[[1.0, 2.0, 3.0]])
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "expects 4 features" in body["errors"][0]["message"]
    assert calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"model_name": "iris", "outputs": []},
        {
            "model_name": "iris",
            "outputs": [{"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 2]}],
        },
        {
            "model_name": "iris",
            "outputs": [{"name": "predict", "shape": [1], "datatype": "COMPLEX", "data": [1]}],
        },
    ],
    ids=["no-outputs", "wrong-shape", "unknown-datatype"],
)
async def test_malformed_v2_responses_store_nothing(
    app_client: AppClient, session: AsyncSession, body: dict[str, Any]
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    settings: dict[str, Any] = {
        "model_protocol": "v2",
        "model_features": 4,
        "model_probabilities": False,
        "model_url": f"http://127.0.0.1:{free_port()}",
    }
    async with app_client(transport=transport, **settings) as client:
        result = await graphql(client, CLASSIFY_MODEL, rows=IRIS_ROWS[:1])
    assert error_codes(result) == ["BAD_MODEL_RESPONSE"]
    assert (await session.scalars(select(db.Prediction))).all() == []


async def test_missing_v2_metadata_is_not_asked_for_on_every_call(app_client: AppClient) -> None:
    paths: list[str] = []
    answer = {
        "model_name": "iris",
        "outputs": [{"name": "predict", "shape": [1], "datatype": "INT64", "data": [1]}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("/infer"):
            return httpx.Response(200, json=answer)
        return httpx.Response(404, text="no metadata here")

    settings: dict[str, Any] = {"model_protocol": "v2", "model_probabilities": False}
    async with app_client(transport=httpx.MockTransport(handler), **settings) as client:
        for _ in range(3):
            body = await graphql(client, CLASSIFY_MODEL, rows=IRIS_ROWS[:1])
            assert "errors" not in body, body
    assert paths.count("/v2/models/iris") == 1
    assert paths.count("/v2/models/iris/infer") == 3
