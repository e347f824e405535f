"""classify with named features of numbers and categories: records, mixed rows, and every row
checked against the model's schema before the model or the database sees it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import db
from scripts.modelserver import ModelServer
from tests.conftest import AppClient
from tests.utils.api import IRIS_ROWS, error_codes, graphql

FEATURES = [
    {"name": "tenure", "kind": "numerical"},
    {"name": "monthly_charges", "kind": "numerical"},
    {"name": "contract", "kind": "categorical"},
    {"name": "region", "kind": "categorical"},
]
NAMES = [f["name"] for f in FEATURES]
RECORD = {"tenure": 3, "monthly_charges": 95.5, "contract": "monthly", "region": "north"}
ROW = [3, 95.5, "monthly", "north"]
STORED = [3.0, 95.5, "monthly", "north"]
OUT = """
    replayed
    predictions { id label features record featureSchema { name kind } rowIndex }
"""
BY_RECORDS = f"""
mutation($records: [FeatureRecord!]!, $requestId: String) {{
  classify(input: {{records: $records, requestId: $requestId}}) {{ {OUT} }}
}}"""
BY_MIXED_ROWS = f"""
mutation($rows: [[FeatureValue!]!]!, $requestId: String) {{
  classify(input: {{mixedRows: $rows, requestId: $requestId}}) {{ {OUT} }}
}}"""
BY_ROWS = f"""
mutation($rows: [[Float!]!]!) {{ classify(input: {{rows: $rows}}) {{ {OUT} }} }}"""


class Model:
    """A Seldon v1 stand-in: records every prediction body; 'churn' for a monthly contract."""

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.bodies: list[Any] = []
        self.metadata = metadata

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            if self.metadata is None:
                return httpx.Response(404, text="no metadata")
            return httpx.Response(200, json=self.metadata)
        body = json.loads(request.content)
        self.bodies.append(body)
        rows = body["data"]["ndarray"]
        proba = [[0.8, 0.2] if "monthly" in row else [0.3, 0.7] for row in rows]
        return httpx.Response(200, json={"data": {"names": ["churn", "stay"], "ndarray": proba}})


def _churn(model: Model, **settings: Any) -> dict[str, Any]:
    return {
        "transport": httpx.MockTransport(model),
        "models": [{"name": "churn", "url": "http://churn", "version": "v1", "features": FEATURES}],
        **settings,
    }


async def _count(session: AsyncSession) -> int:
    return (await session.scalar(select(func.count()).select_from(db.Prediction))) or 0


async def test_records_mixed_rows_and_literals_are_one_typed_row(
    app_client: AppClient, session: AsyncSession
) -> None:
    model = Model()
    literal = """mutation { classify(input: {records: [
        {tenure: 3, monthly_charges: 95.5, contract: "monthly", region: "north"}]}) {
        predictions { features record } } }"""
    async with app_client(**_churn(model)) as client:
        by_record = await graphql(client, BY_RECORDS, records=[RECORD])
        reordered = dict(reversed(list(RECORD.items())))
        by_reordered = await graphql(client, BY_RECORDS, records=[reordered])
        by_row = await graphql(client, BY_MIXED_ROWS, rows=[ROW])
        by_literal = await graphql(client, literal)
    for body in (by_record, by_reordered, by_row, by_literal):
        assert "errors" not in body, body
        (prediction,) = body["data"]["classify"]["predictions"]
        assert prediction["features"] == STORED
        # The record follows the schema's order, whatever order the caller used.
        assert list(prediction["record"].items()) == list(zip(NAMES, STORED, strict=True))
    (first,) = by_record["data"]["classify"]["predictions"]
    assert first["label"] == "churn"
    assert first["featureSchema"] == [
        {"name": f["name"], "kind": f["kind"].upper()} for f in FEATURES
    ]
    # Seldon got the names and one mixed row, in the schema's order, every time.
    assert model.bodies == [{"data": {"names": NAMES, "ndarray": [STORED]}}] * 4
    stored = (await session.scalars(select(db.Prediction))).all()
    assert [row.features for row in stored] == [STORED] * 4
    assert len({row.schema_id for row in stored}) == 1
    assert stored[0].schema_id is not None


@pytest.mark.parametrize(
    ("query", "variables", "fragment", "row", "feature"),
    [
        pytest.param(
            BY_RECORDS,
            {"records": [RECORD, {**RECORD, "regoin": "north"}]},
            "row 1: model 'churn' has no feature 'regoin'; its features are tenure, ",
            1,
            "regoin",
            id="unknown-name",
        ),
        pytest.param(
            BY_RECORDS,
            {"records": [{k: v for k, v in RECORD.items() if k != "region"}]},
            "row 0: feature 'region' is missing",
            0,
            "region",
            id="missing-name",
        ),
        pytest.param(
            BY_MIXED_ROWS,
            {"rows": [ROW, ["3", 95.5, "monthly", "north"]]},
            "row 1: feature 'tenure' is numerical: send a number, not the string '3'",
            1,
            "tenure",
            id="string-in-numerical",
        ),
        pytest.param(
            BY_MIXED_ROWS,
            {"rows": [[3, 95.5, 1, "north"]]},
            "row 0: feature 'contract' is categorical: send a string, e.g. \"1\"",
            0,
            "contract",
            id="number-in-categorical",
        ),
        pytest.param(
            BY_ROWS,
            {"rows": [[3, 95.5, 1, 2]]},
            "row 0: feature 'contract' is categorical: send strings in mixedRows or records",
            0,
            "contract",
            id="float-rows-for-categories",
        ),
        pytest.param(
            BY_RECORDS,
            {"records": [{**RECORD, "region": "x" * 201}]},
            "row 0: feature 'region' is longer than 200 characters",
            0,
            "region",
            id="over-long",
        ),
        pytest.param(
            BY_RECORDS,
            {"records": [{**RECORD, "region": "no\x00rth"}]},
            "row 0: feature 'region' holds a NUL character",
            0,
            "region",
            id="nul",
        ),
        pytest.param(
            BY_MIXED_ROWS,
            {"rows": [ROW[:3]]},
            "model 'churn' expects 4 features per row (tenure, monthly_charges, contract, "
            "region), got 3 in row 0",
            0,
            None,
            id="narrow-row",
        ),
        pytest.param(
            BY_MIXED_ROWS,
            {"rows": [ROW, ROW[:3]]},
            "ragged rows: row 1 has 3 features, row 0 has 4",
            1,
            None,
            id="ragged",
        ),
    ],
)
async def test_rows_that_do_not_fit_the_schema_never_reach_the_model(
    app_client: AppClient,
    session: AsyncSession,
    query: str,
    variables: dict[str, Any],
    fragment: str,
    row: int,
    feature: str | None,
) -> None:
    model = Model()
    async with app_client(**_churn(model)) as client:
        body = await graphql(client, query, **variables)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    (error,) = body["errors"]
    assert fragment in error["message"]
    assert error["extensions"]["row"] == row
    assert error["extensions"].get("feature") == feature
    assert model.bodies == []
    assert await _count(session) == 0


@pytest.mark.parametrize(
    ("raw", "fragment", "feature"),
    [
        # JSON decoders keep the last of two equal keys: mlgraph's refuses the record instead.
        pytest.param(
            b'{"tenure": 3, "monthly_charges": 9, "contract": "monthly", "region": "north",'
            b' "region": "south"}',
            "row 0: feature 'region' is given more than once",
            "region",
            id="duplicated-name",
        ),
        # Python's JSON decoder accepts NaN. (A lone surrogate escape is refused with the whole
        # body, wherever it is: tests/graph/test_request_body.py.)
        pytest.param(
            b'{"tenure": NaN, "monthly_charges": 9, "contract": "monthly", "region": "north"}',
            "row 0: feature 'tenure' is not a finite number",
            "tenure",
            id="nan",
        ),
        pytest.param(
            b'{"tenure": 1e999, "monthly_charges": 9, "contract": "monthly", "region": "north"}',
            "row 0: feature 'tenure' is not a finite number",
            "tenure",
            id="overflow",
        ),
    ],
)
async def test_what_only_raw_json_can_carry_is_refused_too(
    app_client: AppClient, session: AsyncSession, raw: bytes, fragment: str, feature: str
) -> None:
    model = Model()
    query = json.dumps(BY_RECORDS).encode()
    payload = b'{"query": ' + query + b', "variables": {"records": [' + raw + b"]}}"
    async with app_client(**_churn(model)) as client:
        response = await client.post(
            "/graphql", content=payload, headers={"content-type": "application/json"}
        )
    body = response.json()
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert fragment in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["feature"] == feature
    assert model.bodies == []
    assert await _count(session) == 0


async def test_booleans_and_other_non_values_fail_as_their_type(app_client: AppClient) -> None:
    model = Model()
    literal = """mutation { classify(input: {records: [
        {tenure: true, monthly_charges: 1, contract: "monthly", region: "north"}]}) {
        replayed } }"""
    bare_word = """mutation { classify(input: {mixedRows: [[1, 2, monthly, "north"]]}) {
        replayed } }"""
    async with app_client(**_churn(model)) as client:
        variable = await graphql(client, BY_RECORDS, records=[{**RECORD, "tenure": True}])
        in_row = await graphql(client, BY_MIXED_ROWS, rows=[[3, 95.5, False, "north"]])
        nested = await graphql(client, BY_RECORDS, records=[{**RECORD, "region": ["north"]}])
        in_literal = await graphql(client, literal)
        unquoted = await graphql(client, bare_word)
        not_a_record = await graphql(client, BY_RECORDS, records=[[3, 95.5]])
    for body in (variable, in_row, nested, not_a_record):
        assert error_codes(body) == ["BAD_USER_INPUT"], body
    # A wrong literal is a query that does not fit the schema, as any mistyped literal is.
    for body in (in_literal, unquoted):
        assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
    assert (
        'send 0 or 1 for a numerical feature, "true" or "false"' in variable["errors"][0]["message"]
    )
    assert "send 0 or 1" in in_row["errors"][0]["message"]
    assert "send 0 or 1" in in_literal["errors"][0]["message"]
    assert (
        "feature 'region': a feature value is a number or a string, not a list"
        in nested["errors"][0]["message"]
    )
    assert 'quote a string, "monthly"' in unquoted["errors"][0]["message"]
    assert model.bodies == []


async def test_exactly_one_kind_of_rows_and_records_need_names(app_client: AppClient) -> None:
    both = """mutation { classify(input: {rows: [[1.0]], mixedRows: [[1]]}) { replayed } }"""
    none = """mutation { classify(input: {requestId: "x"}) { replayed } }"""
    model = Model()  # no metadata: the schema is unknown until a first answer
    transport = httpx.MockTransport(model)
    async with app_client(transport=transport, model_version="v1") as client:
        bodies = [await graphql(client, both), await graphql(client, none)]
        unnamed = await graphql(client, BY_RECORDS, records=[RECORD])
    for body in bodies:
        assert "send exactly one of rows, mixedRows or records" in body["errors"][0]["message"]
    assert error_codes(unnamed) == ["BAD_USER_INPUT"]
    assert "has no known feature names yet" in unnamed["errors"][0]["message"]
    assert model.bodies == []


async def test_the_first_answer_fixes_the_schema_when_nothing_else_gives_it(
    app_client: AppClient, session: AsyncSession
) -> None:
    model = Model()  # its metadata endpoint answers 404
    models = """{ models { featureCount featuresFrom features { name kind } } }"""
    async with app_client(transport=httpx.MockTransport(model), model_version="v1") as client:
        before = await graphql(client, models)
        first = await graphql(client, BY_MIXED_ROWS, rows=[[1, "monthly", 2.5]])
        wide = await graphql(client, BY_MIXED_ROWS, rows=[[1, "monthly", 2.5, 7]])
        kinds = await graphql(client, BY_MIXED_ROWS, rows=[["1", "monthly", 2.5]])
        named = await graphql(client, BY_RECORDS, records=[{"f0": 4, "f1": "yearly", "f2": 1}])
        after = await graphql(client, models)
    assert before["data"]["models"] == [
        {"featureCount": None, "featuresFrom": None, "features": None}
    ]
    assert "errors" not in first, first
    assert error_codes(wide) == error_codes(kinds) == ["BAD_USER_INPUT"]
    assert wide["errors"][0]["extensions"]["expected"] == 3
    assert "feature 'f0' is numerical" in kinds["errors"][0]["message"]
    assert "errors" not in named, named
    assert after["data"]["models"] == [
        {
            "featureCount": 3,
            "featuresFrom": "FIRST_ANSWER",
            "features": [
                {"name": "f0", "kind": "NUMERICAL"},
                {"name": "f1", "kind": "CATEGORICAL"},
                {"name": "f2", "kind": "NUMERICAL"},
            ],
        }
    ]
    # Placeholder names are not sent; only the two calls that fit reached the model.
    assert model.bodies == [
        {"data": {"ndarray": [[1.0, "monthly", 2.5]]}},
        {"data": {"ndarray": [[4.0, "yearly", 1.0]]}},
    ]
    assert await _count(session) == 2


async def test_a_replay_compares_typed_values(app_client: AppClient) -> None:
    model = Model()
    async with app_client(**_churn(model, max_category_length=10)) as client:
        row = [3, 95.5, "monthly", "1"]
        first = await graphql(client, BY_MIXED_ROWS, rows=[row], requestId="typed")
        same = await graphql(
            client, BY_RECORDS, records=[dict(zip(NAMES, row, strict=True))], requestId="typed"
        )
        whole = await graphql(client, BY_MIXED_ROWS, rows=[[3.0, 95.5, "monthly", "1"]],
                              requestId="typed")  # fmt: skip
        other = await graphql(client, BY_MIXED_ROWS, rows=[[3, 95.5, "monthly", "2"]],
                              requestId="typed")  # fmt: skip
    assert first["data"]["classify"]["replayed"] is False
    assert same["data"]["classify"]["replayed"] is True
    assert whole["data"]["classify"]["replayed"] is True  # 3 and 3.0 are one number
    assert error_codes(other) == ["CONFLICT"]
    assert len(model.bodies) == 1


# --- item 9 against the real Seldon microservice ------------------------------------------


async def test_the_wrong_width_never_reaches_the_seldon_model_nor_opens_the_circuit(
    app_client: AppClient, model_server: ModelServer, session: AsyncSession
) -> None:
    settings = {"model_url": model_server.url, "breaker_failures": 2, "model_retries": 0}
    async with app_client(**settings) as client:
        narrow = [await graphql(client, BY_ROWS, rows=[[5.1, 3.5, 1.4]]) for _ in range(5)]
        good = await graphql(client, BY_ROWS, rows=IRIS_ROWS[:1])
    for body in narrow:
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["extensions"]["expected"] == 4
    # The schema came from the model's metadata before the first call was made.
    assert (
        "sepal_length, sepal_width, petal_length, petal_width" in narrow[0]["errors"][0]["message"]
    )
    assert "errors" not in good, good
    (prediction,) = good["data"]["classify"]["predictions"]
    assert prediction["label"] == "setosa"
    assert prediction["record"] == dict(
        zip(
            ["sepal_length", "sepal_width", "petal_length", "petal_width"],
            IRIS_ROWS[0],
            strict=True,
        )
    )
    assert await _count(session) == 1
