"""A query or mutation POSTed as JSON runs on mlgraph's own path (graph/operation.py and
``GraphQLApp._answer_plain``); everything else on Strawberry's. Both must answer alike."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
import strawberry

from graph.app import GraphQLApp
from graph.metrics import OPERATIONS
from scripts.modelserver import ModelServer
from tests.conftest import AppClient
from tests.utils.api import CLASSIFY, IRIS_ROWS, PREDICTIONS

# Answers that must not differ between the paths: data, partial data with coded errors, each
# kind of refusal the operation itself gives.
SAME = [
    ({"query": PREDICTIONS, "variables": {"first": 2}}, "one page of the history"),
    ({"query": PREDICTIONS, "variables": {"first": "two"}}, "a variable of the wrong type"),
    ({"query": PREDICTIONS, "variables": {"after": "not-a-cursor"}}, "a resolver's refusal"),
    ({"query": "{ models { name protocol featureCount } }"}, "the models"),
    (
        {
            "query": "query A { models { name } } "
            "query B($n: Int) { predictions(first: $n) { edges { node { label } } } }",
            "operationName": "B",
            "variables": {"n": 1},
        },
        "the operation named",
    ),
    (
        {"query": CLASSIFY, "variables": {"rows": [[1.0, 2.0]], "requestId": "wrong-width"}},
        "classify refusing rows",
    ),
    (
        {
            "query": "mutation { classify(input: {rows: [[5.1, 3.5, 1.4, 0.2]], "
            'modelName: "nope"}) { replayed } }'
        },
        "an unknown model",
    ),
    ({"query": "{ __typename }", "extensions": {"x": 1}}, "extensions sent"),
]


@pytest.fixture
def strawberry_executions(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The operations Strawberry's Schema.execute runs, by query text."""
    seen: list[str | None] = []
    original = strawberry.Schema.execute

    async def counted(self: strawberry.Schema, query: str | None, *args: Any, **kwargs: Any) -> Any:
        seen.append(query)
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(strawberry.Schema, "execute", counted)
    return seen


def _operations() -> Counter[tuple[str, str]]:
    """mlgraph_graphql_operations_total by (operation, outcome)."""
    counts: Counter[tuple[str, str]] = Counter()
    for metric in OPERATIONS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["operation"], sample.labels["outcome"])
                counts[key] += int(sample.value)
    return counts


async def _answers(client: httpx.AsyncClient) -> tuple[list[tuple[int, Any]], Counter[Any]]:
    """Each of SAME's answers, and the operations counted meanwhile."""
    before = _operations()
    answers = []
    for body, _ in SAME:
        response = await client.post("/graphql", json=body)
        answers.append((response.status_code, response.json()))
    return answers, _operations() - before


async def test_plain_and_strawberry_paths_answer_alike(
    app_client: AppClient,
    model_server: ModelServer,
    strawberry_executions: list[str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with app_client(model_url=model_server.url) as client:
        stored = await client.post(
            "/graphql", json={"query": CLASSIFY, "variables": {"rows": IRIS_ROWS}}
        )
        plain, plain_counted = await _answers(client)
        assert strawberry_executions == []  # all of it ran on the plain path

        async def strawberry_only(self: GraphQLApp, request: Any) -> None:
            return None

        monkeypatch.setattr(GraphQLApp, "_answer_plain", strawberry_only)
        through_strawberry, strawberry_counted = await _answers(client)
    assert len(strawberry_executions) == len(SAME)
    assert stored.json()["data"]["classify"]["predictions"][2]["rowIndex"] == 2
    for (_, what), ours, theirs in zip(SAME, plain, through_strawberry, strict=True):
        assert ours == theirs, what
    # Each operation counted once, by the same name and outcome, on either path.
    assert plain_counted == strawberry_counted
    assert sum(plain_counted.values()) == len(SAME)
    assert plain_counted[("B", "ok")] == 1
    codes = [[e["extensions"]["code"] for e in body.get("errors", [])] for _, body in plain]
    assert codes == [
        [],
        ["BAD_USER_INPUT"],
        ["BAD_USER_INPUT"],
        [],
        [],
        ["BAD_USER_INPUT"],
        ["BAD_USER_INPUT"],
        [],
    ]
    assert plain[0][1]["data"]["predictions"]["pageInfo"]["hasNextPage"] is True
    assert len(plain[4][1]["data"]["predictions"]["edges"]) == 1


async def test_a_classify_on_the_plain_path_is_stored_and_answered(
    app_client: AppClient, model_server: ModelServer, strawberry_executions: list[str | None]
) -> None:
    async with app_client(model_url=model_server.url) as client:
        first = await client.post(
            "/graphql",
            json={"query": CLASSIFY, "variables": {"rows": IRIS_ROWS, "requestId": "r-1"}},
        )
        again = await client.post(
            "/graphql",
            json={"query": CLASSIFY, "variables": {"rows": IRIS_ROWS, "requestId": "r-1"}},
        )
        page = await client.post("/graphql", json={"query": PREDICTIONS})
    assert strawberry_executions == []
    made, replayed = first.json()["data"]["classify"], again.json()["data"]["classify"]
    assert (made["replayed"], replayed["replayed"]) == (False, True)
    assert made["predictions"] == replayed["predictions"]
    stored = {edge["node"]["id"] for edge in page.json()["data"]["predictions"]["edges"]}
    assert stored == {p["id"] for p in made["predictions"]}


@pytest.mark.parametrize(
    ("request_options", "why"),
    [
        ({"method": "GET", "params": {"query": "{ __typename }"}}, "GET"),
        ({"json": {"query": "{ __typename"}}, "a document that does not parse"),
        ({"json": {"query": "{ nope }"}}, "a document that does not validate"),
        (
            {"json": {"query": "{ __typename }", "operationName": "Missing"}},
            "an operationName the document lacks",
        ),
        (
            {"json": {"query": "subscription { predictionAdded { cursor } }"}},
            "a subscription POSTed",
        ),
    ],
)
async def test_what_is_not_a_plain_operation_goes_strawberrys_way(
    app_client: AppClient,
    strawberry_executions: list[str | None],
    request_options: dict[str, Any],
    why: str,
) -> None:
    options = {"method": "POST", **request_options}
    async with app_client() as client:
        response = await client.request(url="/graphql", **options)
    assert response.status_code < 500, why
    assert len(strawberry_executions) == 1, why


async def test_the_plain_path_keeps_every_refusal_of_the_request(
    app_client: AppClient, strawberry_executions: list[str | None]
) -> None:
    # Malformed bodies are refused before any operation runs, as before (graph/request_body.py).
    async with app_client() as client:
        bodies = [b"", b"[1]", b'{"query": 1}', b'{"query": "{ __typename }", "variables": 3}']
        answers = [
            await client.post(
                "/graphql", content=body, headers={"content-type": "application/json"}
            )
            for body in bodies
        ]
        plain = [
            await client.post("/graphql", json={"query": "{ __typename }", "variables": {}})
            for _ in range(2)
        ]
        other = await client.post(
            "/graphql", content=b"{}", headers={"content-type": "application/graphql+json"}
        )
    assert other.status_code == 415
    assert other.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    assert {a.json()["errors"][0]["extensions"]["code"] for a in answers} == {"BAD_REQUEST"}
    assert [p.json() for p in plain] == [{"data": {"__typename": "Query"}}] * 2
    assert strawberry_executions == []


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_several_operations_and_no_operation_name_is_a_coded_request_error(
    app_client: AppClient, strawberry_executions: list[str | None], method: str
) -> None:
    # The GraphQL spec's GetOperation: with more than one operation, operationName is required.
    # Strawberry ran the first one.
    query = "query A { __typename } query B { models { name } }"
    options: dict[str, Any] = (
        {"json": {"query": query}} if method == "POST" else {"params": {"query": query}}
    )
    named: dict[str, Any] = (
        {"json": {"query": query, "operationName": "B"}}
        if method == "POST"
        else {"params": {"query": query, "operationName": "B"}}
    )
    async with app_client() as client:
        refused = await client.request(method, "/graphql", **options)
        chosen = await client.request(method, "/graphql", **named)
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert error["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
    assert "operationName" in error["message"]
    assert "data" not in refused.json()
    assert chosen.status_code == 200
    assert "models" in chosen.json()["data"]
