"""Helpers for talking to mlgraph's GraphQL endpoint in tests."""

from __future__ import annotations

from typing import Any

import httpx

CLASSIFY = """
mutation Classify($rows: [[Float!]!]!, $requestId: String) {
  classify(input: {rows: $rows, requestId: $requestId}) {
    replayed
    predictions {
      id createdAt modelName modelVersion features label latencyMs requestId rowIndex
      probabilities { label probability }
    }
  }
}
"""

PREDICTIONS = """
query Predictions($since: DateTime, $until: DateTime, $modelName: String, $label: String,
                  $first: Int, $after: String) {
  predictions(since: $since, until: $until, modelName: $modelName, label: $label,
              first: $first, after: $after) {
    edges { cursor node { id createdAt modelName label features } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    """POST one operation and return the decoded body (``data`` and/or ``errors``)."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
