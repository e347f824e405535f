"""Malformed HTTP requests to /graphql: each gets a JSON GraphQL error with a code and a 4xx
status, and logs no traceback. (Before, a number as the body, a 10,000-deep array and invalid
UTF-8 were a 500 with a traceback; the rest a plain-text 400 without a code.)"""

from __future__ import annotations

import logging

import pytest

from tests.conftest import AppClient

JSON = {"content-type": "application/json"}
TYPENAME = b'{"query": "{ __typename }"'
PREDICTIONS = "query($label: String) { predictions(label: $label) { edges { cursor } } }"

# name, body, headers, status, code, the start of the message
POSTS: list[tuple[str, bytes, dict[str, str], int, str, str]] = [
    ("number", b"5", JSON, 400, "BAD_REQUEST", "the body is JSON but not an object"),
    ("string", b'"{ __typename }"', JSON, 400, "BAD_REQUEST", "the body is JSON but not an"),
    ("null", b"null", JSON, 400, "BAD_REQUEST", "the body is JSON but not an object"),
    ("deep", b"[" * 10_000 + b"]" * 10_000, JSON, 400, "BAD_REQUEST", "the body is nested too"),
    (
        "deep-variables",
        TYPENAME + b', "variables": {"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
        JSON,
        400,
        "BAD_REQUEST",
        "the body is nested too deeply",
    ),
    ("utf8-body", TYPENAME + b"}\xff", JSON, 400, "BAD_REQUEST", "the body is not valid UTF-8"),
    (
        "utf8-string",
        b'{"query": "{ __typename }", "variables": {"label": "\xc3("}}',
        JSON,
        400,
        "BAD_REQUEST",
        "the body is not valid UTF-8 (byte 52)",
    ),
    (
        "lone-surrogate",
        b'{"query": "' + PREDICTIONS.encode() + b'", "variables": {"label": "\\udc80"}}',
        JSON,
        400,
        "BAD_REQUEST",
        "the body holds a \\u escape of half a UTF-16 surrogate pair",
    ),
    ("not-json", b"{ __typename }", JSON, 400, "BAD_REQUEST", "the body is not JSON (Expecting"),
    ("empty", b"", JSON, 400, "BAD_REQUEST", "the body is empty; send one operation as"),
    ("batch", b"[" + TYPENAME + b"}]", JSON, 400, "BAD_REQUEST", "batched operations are not"),
    ("no-query", b'{"variables": {}}', JSON, 400, "BAD_REQUEST", "the body has no query"),
    ("query-number", b'{"query": 5}', JSON, 400, "BAD_REQUEST", "query must be a string"),
    (
        "variables-list",
        TYPENAME + b', "variables": [1]}',
        JSON,
        400,
        "BAD_REQUEST",
        "variables must be an object",
    ),
    (
        "operation-name-number",
        TYPENAME + b', "operationName": 5}',
        JSON,
        400,
        "BAD_REQUEST",
        "operationName must be a string",
    ),
    (
        "extensions-list",
        TYPENAME + b', "extensions": []}',
        JSON,
        400,
        "BAD_REQUEST",
        "extensions must be an object",
    ),
    (
        "unknown-operation",
        b'{"query": "query A { __typename }", "operationName": "B"}',
        JSON,
        400,
        "OPERATION_RESOLUTION_FAILURE",
        'Unknown operation named "B".',
    ),
    (
        "text-plain",
        TYPENAME + b"}",
        {"content-type": "text/plain"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "the body must be application/json, not text/plain",
    ),
    ("no-type", TYPENAME + b"}", {}, 415, "UNSUPPORTED_MEDIA_TYPE", "the body must be"),
]
GETS: list[tuple[str, str, int, str, str]] = [
    (
        "mutation",
        '?query=mutation { recordActual(input: {requestId: "x", labels: ["a"]}) { label } }',
        405,
        "METHOD_NOT_ALLOWED",
        "mutations are not allowed when using GET; send it as a POST",
    ),
    ("no-query", "?variables={}", 400, "BAD_REQUEST", "No GraphQL query found in the request"),
    (
        "variables-not-json",
        "?query={ __typename }&variables={oops",
        400,
        "BAD_REQUEST",
        "variables and extensions in the URL must be JSON",
    ),
]


async def test_every_malformed_request_is_a_coded_json_error_without_a_traceback(
    app_client: AppClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = {}
    async with app_client() as client:
        for name, body, headers, *_ in POSTS:
            answers[f"POST {name}"] = await client.post("/graphql", content=body, headers=headers)
        for name, query, *_ in GETS:
            answers[f"GET {name}"] = await client.get(
                "/graphql" + query, headers={"accept": "application/json"}
            )
        fine = await client.post("/graphql", content=TYPENAME + b"}", headers=JSON)

    expected = {f"POST {name}": rest for name, _, _, *rest in POSTS} | {
        f"GET {name}": rest for name, _, *rest in GETS
    }
    for name, (status, code, message) in expected.items():
        response = answers[name]
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"] == "application/json", name
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": code}, name
        assert error["message"].startswith(message), (name, error["message"])
        assert "data" not in response.json(), name  # a request error: nothing was executed
    assert fine.json() == {"data": {"__typename": "Query"}}

    # Each is one request log line with its code as the outcome, and no traceback anywhere.
    logged = [getattr(r, "fields", {}) for r in caplog.records if r.name == "mlgraph.request"]
    outcomes = [fields.get("outcome") for fields in logged]
    assert outcomes[: len(expected)] == [code for _, code, _ in expected.values()]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_nan_in_a_body_still_reaches_classify_s_own_check(app_client: AppClient) -> None:
    """The json module reads NaN (some clients write it): classify refuses it with a code."""
    body = (
        b'{"query": "mutation($r: [[Float!]!]!) { classify(input: {rows: $r}) { replayed } }", '
        b'"variables": {"r": [[NaN, 1, 2, 3]]}}'
    )
    async with app_client() as client:
        response = await client.post("/graphql", content=body, headers=JSON)
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
