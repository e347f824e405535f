"""Seldon's ``POST /api/v1.0/feedback``: a Seldon client's ground truth lands in actuals."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

import db
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, graphql
from tests.utils.builders import create_random_prediction

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CLASSES = {"setosa": 0.1, "versicolor": 0.2, "virginica": 0.7}


def _body(puid: str, ndarray: object) -> dict[str, object]:
    # What seldon_core's SeldonClient.feedback() sends: the request, the response and the truth.
    return {
        "request": {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}},
        "response": {"meta": {"puid": puid}, "data": {"ndarray": [[0.1, 0.2, 0.7]]}},
        "reward": 1.0,
        "truth": {"data": {"ndarray": ndarray}},
    }


async def _actuals(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(
        select(col(db.Prediction.row_index), col(db.Actual.label)).join(
            db.Actual, col(db.Actual.prediction_id) == col(db.Prediction.id)
        )
    )
    return {str(index): label for index, label in rows.all()}


async def test_feedback_records_one_actual_per_row(
    app_client: AppClient, session: AsyncSession
) -> None:
    for index in range(3):
        await create_random_prediction(
            session, created_at=T0, request_id="puid-1", row_index=index, probabilities=CLASSES
        )
    await session.commit()
    async with app_client(model_class_names=list(CLASSES)) as client:
        # A label, a whole number as float, and a one-hot row (the model's class order).
        response = await client.post(
            "/api/v1.0/feedback", json=_body("puid-1", ["setosa", [2.0], [0, 0, 1]])
        )
    assert response.status_code == 200
    assert response.json()["meta"] == {"puid": "puid-1", "tags": {"actuals": 3, "reward": 1.0}}
    assert await _actuals(session) == {"0": "setosa", "1": "2", "2": "virginica"}


async def test_unknown_puid_is_404_json(app_client: AppClient) -> None:
    async with app_client() as client:
        response = await client.post("/api/v1.0/feedback", json=_body("nope", ["a"]))
    assert response.status_code == 404
    body = response.json()
    assert body["status"]["status"] == "FAILURE"
    # Seldon's Status and nothing else: SeldonClient parses error answers as a SeldonMessage.
    assert set(body) == {"status"}
    assert body["status"]["reason"] == "NOT_FOUND"
    assert "nope" in body["status"]["info"]


async def test_malformed_feedback_is_400(app_client: AppClient, session: AsyncSession) -> None:
    await create_random_prediction(session, created_at=T0, request_id="p", row_index=0)
    await session.commit()
    async with app_client() as client:
        no_truth = await client.post("/api/v1.0/feedback", json={"response": {"meta": {}}})
        not_json = await client.post("/api/v1.0/feedback", content=b"{")
        too_many = await client.post("/api/v1.0/feedback", json=_body("p", ["a", "b"]))
        one_hot = await client.post("/api/v1.0/feedback", json=_body("p", [[0, 1, 0]]))
    assert [r.status_code for r in (no_truth, not_json, too_many)] == [400, 400, 400]
    assert one_hot.status_code == 400  # no class names configured: the order is unknown
    assert too_many.json()["status"]["reason"] == "BAD_USER_INPUT"


async def test_one_hot_truth_uses_the_stored_class_order(
    app_client: AppClient, session: AsyncSession
) -> None:
    # The model names its classes out of alphabetical order; PostgreSQL must keep that order.
    body = {"data": {"names": ["zebra", "ant"], "ndarray": [[0.9, 0.1]]}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    async with app_client(transport=transport, model_version="v1") as client:
        classified = await graphql(client, CLASSIFY, rows=[[1.0]], requestId="order-1")
        assert [
            c["label"] for c in classified["data"]["classify"]["predictions"][0]["probabilities"]
        ] == ["zebra", "ant"]
        response = await client.post(
            "/api/v1.0/feedback",
            json={
                "response": {"meta": {"puid": "order-1"}},
                "truth": {"data": {"ndarray": [[0, 1]]}},
            },
        )
    assert response.status_code == 200, response.text
    labels = (await session.scalars(select(col(db.Actual.label)))).all()
    assert labels == ["ant"]


PERFORMANCE = """{ performance(modelName: "iris", since: "2026-01-01", until: "2030-01-01",
  bucket: WEEK) { withActuals accuracy rewarded meanReward } }"""


async def test_rewards_are_stored_per_request_and_shown_with_performance(
    app_client: AppClient, session: AsyncSession
) -> None:
    for request_id, label in (("a", "setosa"), ("b", "virginica"), ("c", "setosa")):
        await create_random_prediction(
            session, created_at=T0, request_id=request_id, label=label, probabilities=CLASSES
        )
    await session.commit()
    async with app_client() as client:
        # Reward only (SeldonClient sends no truth); through the ingress paths.
        first = await client.post(
            "/seldon/ns/iris/api/v1.0/feedback",
            json={"response": {"meta": {"puid": "a"}}, "reward": 1.0},
        )
        # protobuf's JSON leaves a reward of 0 out: neither truth nor reward is a reward of 0.
        zero = await client.post(
            "/seldon/iris/api/v1.0/feedback", json={"response": {"meta": {"puid": "b"}}}
        )
        # Truth as SeldonClient's default tensor (one-hot), with a reward.
        truth = {"data": {"tensor": {"shape": [1, 3], "values": [1, 0, 0]}}}
        both = await client.post(
            "/api/v1.0/feedback",
            json={"response": {"meta": {"puid": "c"}}, "truth": truth, "reward": 0.5},
        )
        wrong_model = await client.post(
            "/seldon/ns/churn/api/v1.0/feedback",
            json={"response": {"meta": {"puid": "a"}}, "reward": 1.0},
        )
        performance = await graphql(client, PERFORMANCE)
    assert [r.status_code for r in (first, zero, both)] == [200, 200, 200]
    assert both.json()["meta"]["tags"] == {"actuals": 1, "reward": 0.5}
    assert wrong_model.status_code == 404
    (bucket,) = performance["data"]["performance"]
    assert bucket == {"withActuals": 1, "accuracy": 1.0, "rewarded": 3, "meanReward": 0.5}


async def test_anonymous_feedback_is_a_setting(
    app_client: AppClient, session: AsyncSession
) -> None:
    from graph.auth import generate_key, hash_key

    key = generate_key()
    await db.apikeys.create_api_key(
        session, name="k", scope="predict", prefix=key[:12], key_hash=hash_key(key)
    )
    await create_random_prediction(session, created_at=T0, request_id="p", probabilities=CLASSES)
    await session.commit()
    body = {"response": {"meta": {"puid": "p"}}, "reward": 1.0}
    async with app_client() as client:
        refused = await client.post("/api/v1.0/feedback", json=body)
    async with app_client(anonymous_feedback=True) as client:
        allowed = await client.post("/api/v1.0/feedback", json=body)
        bad_key = await client.post(
            "/api/v1.0/feedback", json=body, headers={"Authorization": "Bearer mlg_nope"}
        )
    assert refused.status_code == 401
    assert refused.json()["status"]["reason"] == "UNAUTHENTICATED"
    assert allowed.status_code == 200, allowed.text
    assert bad_key.status_code == 401  # a key that is sent must still be a real one
