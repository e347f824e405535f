"""Every limit answers with its own code before any work is done."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, error_codes, graphql


def _refusing_model() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the model must not be called")

    return httpx.MockTransport(handler)


async def test_body_over_the_limit_is_413_with_a_code(app_client: AppClient) -> None:
    rows = [[1.0] * 100] * 100
    payload = json.dumps({"query": CLASSIFY, "variables": {"rows": rows}}).encode()
    async with app_client(transport=_refusing_model(), max_body_bytes=len(payload) - 1) as client:
        response = await client.post(
            "/graphql", content=payload, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert error_codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert "data" not in response.json()  # a request error, like the malformed bodies


async def test_streamed_body_without_length_is_counted(app_client: AppClient) -> None:
    chunk = json.dumps({"query": CLASSIFY, "variables": {"rows": [[1.0] * 500]}}).encode()

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(chunk), 256):
            yield chunk[start : start + 256]

    async with app_client(transport=_refusing_model(), max_body_bytes=1024) as client:
        response = await client.post(
            "/graphql", content=body(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert error_codes(response.json()) == ["PAYLOAD_TOO_LARGE"]


async def test_query_depth_limit(app_client: AppClient) -> None:
    deep = "{ predictions { edges { node { probabilities { label } } } } }"
    async with app_client(max_query_depth=3) as client:
        too_deep = await graphql(client, deep)
    async with app_client(max_query_depth=5) as client:
        fine = await graphql(client, deep)
    assert error_codes(too_deep) == ["QUERY_TOO_DEEP"]
    assert "errors" not in fine


async def test_alias_limit(app_client: AppClient) -> None:
    query = "{ " + " ".join(f"a{i}: predictions {{ edges {{ cursor }} }}" for i in range(4)) + " }"
    async with app_client(max_aliases=3) as client:
        body = await graphql(client, query)
    assert error_codes(body) == ["TOO_MANY_ALIASES"]


async def test_token_limit(app_client: AppClient) -> None:
    rows = ", ".join("[1.0, 2.0, 3.0, 4.0]" for _ in range(50))
    query = f"mutation {{ classify(input: {{rows: [{rows}]}}) {{ replayed }} }}"
    async with app_client(transport=_refusing_model(), max_tokens=200) as client:
        body = await graphql(client, query)
    assert error_codes(body) == ["TOO_MANY_TOKENS"]


async def test_introspection_can_be_switched_off(app_client: AppClient) -> None:
    query = "{ __schema { queryType { name } } }"
    async with app_client() as client:
        on = await graphql(client, query)
    async with app_client(introspection=False) as client:
        off = await graphql(client, query)
    assert on["data"]["__schema"]["queryType"]["name"] == "Query"
    assert set(error_codes(off)) == {"INTROSPECTION_DISABLED"}
