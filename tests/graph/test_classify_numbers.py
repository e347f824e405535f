"""Features survive the database exactly, whatever their size, on both dialects."""

from __future__ import annotations

import json

import httpx

from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, PREDICTIONS, graphql

# Whole-valued floats come back from PostgreSQL's JSONB as ints (6.180472246037881e16 as
# 61804722460378810), which GraphQL's Float refused to serialize and replays took for other rows.
ROWS = [[6.180472246037881e16, 1e300, 2.0**60, 5e-324], [-1e20, 0.0, -0.0, 1.5]]


def _model(request: httpx.Request) -> httpx.Response:
    rows = json.loads(request.content)["data"]["ndarray"]
    return httpx.Response(200, json={"data": {"ndarray": ["setosa"] * len(rows)}})


async def test_huge_and_whole_features_are_returned_replayed_and_listed(
    app_client: AppClient,
) -> None:
    async with app_client(transport=httpx.MockTransport(_model), model_version="v1") as client:
        first = await graphql(client, CLASSIFY, rows=ROWS, requestId="numbers")
        again = await graphql(client, CLASSIFY, rows=ROWS, requestId="numbers")
        history = await graphql(client, PREDICTIONS, first=10)

    assert "errors" not in first, first
    assert [p["features"] for p in first["data"]["classify"]["predictions"]] == ROWS
    assert "errors" not in again, again
    assert again["data"]["classify"]["replayed"] is True
    assert [p["id"] for p in again["data"]["classify"]["predictions"]] == [
        p["id"] for p in first["data"]["classify"]["predictions"]
    ]
    assert "errors" not in history, history
    listed = sorted(e["node"]["features"] for e in history["data"]["predictions"]["edges"])
    assert listed == sorted(ROWS)
