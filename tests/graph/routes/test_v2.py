"""The Open Inference Protocol at mlgraph (/v2/...), against the real MLServer, on PostgreSQL and
SQLite: the model's own answer after the commit, named inputs mapped onto the feature schema."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from scripts.modelserver import ModelServer
from tests.conftest import AppClient
from tests.utils.api import IRIS_ROWS

pytestmark = pytest.mark.model_server

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


def _models(mlserver: ModelServer, model_server: ModelServer) -> list[dict[str, Any]]:
    return [
        {"name": "iris-v2", "protocol": "v2", "url": mlserver.url, "v2_name": "iris",
         "class_names": IRIS_CLASSES},
        {"name": "churn", "protocol": "v2", "url": mlserver.url},
        {"name": "iris", "url": model_server.url},
    ]  # fmt: skip


def _iris(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    shape = [len(rows), len(rows[0])]
    tensor = {"name": "input-0", "shape": shape, "datatype": "FP32", "data": rows}
    return {"inputs": [tensor], **extra}


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(db.Prediction))) or 0


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    message: str = body["error"]
    return message


async def test_infer_answers_the_models_outputs_and_stores_the_rows(
    app_client: AppClient, mlserver: ModelServer, model_server: ModelServer, session: AsyncSession
) -> None:
    async with app_client(models=_models(mlserver, model_server)) as client:
        plain = await client.post("/v2/models/iris/infer", json=_iris(IRIS_ROWS, id="v2-1"))
        proba = await client.post(
            "/v2/models/iris-v2/infer",
            json=_iris(IRIS_ROWS[:1], outputs=[{"name": "predict_proba"}]),
        )
        again = await client.post("/v2/models/iris/infer", json=_iris(IRIS_ROWS, id="v2-1"))
        conflict = await client.post("/v2/models/iris/infer", json=_iris(IRIS_ROWS[:1], id="v2-1"))
    assert plain.status_code == 200, plain.text
    body = plain.json()
    # The model's own answer: what MLServer gives a client naming no outputs (predict), and
    # predict_proba after it (mlgraph stores probabilities); the request's id.
    assert (body["id"], body["model_name"], body["model_version"]) == (
        "v2-1",
        "iris",
        "iris-v2-test-1",
    )
    assert [o["name"] for o in body["outputs"]] == ["predict", "predict_proba"]
    assert body["outputs"][0] == {
        "name": "predict", "shape": [3, 1], "datatype": "INT64",
        "parameters": {"content_type": "np"}, "data": [0, 2, 1],
    }  # fmt: skip
    assert [o["name"] for o in proba.json()["outputs"]] == ["predict_proba"]
    assert again.headers["mlgraph-replayed"] == "true"
    assert again.json()["id"] == "v2-1"
    assert "id was already used for different rows" in _error(conflict, 409, "CONFLICT")
    rows = (await session.scalars(select(db.Prediction).order_by(db.Prediction.row_index))).all()  # type: ignore[arg-type]
    assert [r.label for r in rows if r.request_id == "v2-1"] == [
        "setosa",
        "virginica",
        "versicolor",
    ]
    assert await _count(session) == 4


async def test_named_inputs_map_onto_the_feature_schema(
    app_client: AppClient, mlserver: ModelServer, model_server: ModelServer, session: AsyncSession
) -> None:
    # MLServer's pandas codec: one input per column, strings as BYTES, in any order.
    churn: dict[str, Any] = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "region", "shape": [2, 1], "datatype": "BYTES", "data": ["north", "south"]},
            {"name": "tenure", "shape": [2, 1], "datatype": "INT64", "data": [3, 60]},
            {"name": "monthly_charges", "shape": [2, 1], "datatype": "FP64", "data": [95.5, 40]},
            {"name": "contract", "shape": [2, 1], "datatype": "BYTES",
             "data": ["monthly", "two-year"]},
        ],
    }  # fmt: skip
    unknown = {**churn, "inputs": [*churn["inputs"][:3], {**churn["inputs"][3], "name": "plan"}]}
    async with app_client(models=_models(mlserver, model_server)) as client:
        response = await client.post("/v2/models/churn/infer", json=churn)
        refused = await client.post("/v2/models/churn/infer", json=unknown)
    assert response.status_code == 200, response.text
    async with httpx.AsyncClient() as http:
        direct = (await http.post(f"{mlserver.url}/v2/models/churn/infer", json=churn)).json()
    assert response.json()["outputs"][0]["data"] == direct["outputs"][0]["data"]
    stored = (await session.scalars(select(db.Prediction).order_by(db.Prediction.row_index))).all()  # type: ignore[arg-type]
    assert [row.features for row in stored] == [
        [3.0, 95.5, "monthly", "north"],
        [60.0, 40.0, "two-year", "south"],
    ]
    assert "model 'churn' has no feature 'plan'" in _error(refused, 400, "BAD_USER_INPUT")
    assert refused.json()["feature"] == "plan"


async def test_metadata_readiness_health_and_what_is_not_here(
    app_client: AppClient, mlserver: ModelServer, model_server: ModelServer, session: AsyncSession
) -> None:
    async with app_client(models=_models(mlserver, model_server)) as client:
        metadata = await client.get("/v2/models/iris")
        ready = await client.get("/v2/models/iris-v2/ready")
        live, server_ready = (
            await client.get("/v2/health/live"),
            await client.get("/v2/health/ready"),
        )
        server = await client.get("/v2")
        unknown = await client.post("/v2/models/nope/infer", json=_iris(IRIS_ROWS))
        seldon = await client.get("/v2/models/iris-v2/versions/v9")
        binary = await client.post(
            "/v2/models/iris/infer",
            content=b'{"inputs": []}\x00\x01',
            headers={"Inference-Header-Content-Length": "14"},
        )
        wrong_width = await client.post("/v2/models/iris/infer", json=_iris([[1, 3, 3]]))
    async with httpx.AsyncClient() as http:
        direct = await http.get(f"{mlserver.url}/v2/models/iris")
    assert metadata.content == direct.content
    assert [r.status_code for r in (ready, live, server_ready)] == [200, 200, 200]
    assert server.json()["name"] == "mlgraph"
    assert "V2 models: iris, churn" in _error(unknown, 404, "NOT_FOUND")
    assert "no version 'v9'" in _error(seldon, 404, "NOT_FOUND")
    assert "binary_data=False" in _error(binary, 400, "BAD_USER_INPUT")
    assert "expects 4 features per row" in _error(wrong_width, 400, "BAD_USER_INPUT")
    assert await _count(session) == 0


async def test_a_model_that_fails_stores_nothing(
    app_client: AppClient, session: AsyncSession
) -> None:
    down = httpx.MockTransport(lambda request: httpx.Response(503, text="no"))
    models = [{"name": "iris", "protocol": "v2", "url": "http://mlserver", "features": 4}]
    async with app_client(transport=down, models=models, model_retries=0) as client:
        response = await client.post("/v2/models/iris/infer", json=_iris(IRIS_ROWS))
    _error(response, 503, "MODEL_UNAVAILABLE")
    assert await _count(session) == 0
