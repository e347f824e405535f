"""Feature schemas read from model metadata, and rows sent as each protocol expects them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mlclient import (
    Feature,
    FeatureKind,
    FeatureSchema,
    SeldonClient,
    TensorMetadata,
    V2Client,
)
from mlclient._features import schema_from_tensors
from mlclient.seldon import parse_metadata as parse_seldon_metadata

NUM, CAT = FeatureKind.NUMERICAL, FeatureKind.CATEGORICAL
CHURN = FeatureSchema(
    (
        Feature("tenure", NUM),
        Feature("monthly_charges", NUM),
        Feature("contract", CAT),
        Feature("region", CAT),
    )
)
ROWS: list[list[float | str]] = [[3.0, 95.5, "monthly", "north"], [60.0, 40.0, "two-year", "south"]]


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param([], None, id="nothing-declared"),
        pytest.param([("input-0", "FP64", (-1, 4))], FeatureSchema.positional(4), id="one-tensor"),
        pytest.param([("x", "INT32", (-1, 3))], FeatureSchema.positional(3), id="int-tensor"),
        pytest.param([("input-0", "FP64", (-1, -1))], None, id="variable-width"),
        pytest.param([("text", "BYTES", (-1, 3))], None, id="bytes-tensor"),
        pytest.param(
            [
                ("tenure", "FP64", (-1, 1)),
                ("monthly_charges", "FP32", (-1,)),
                ("contract", "BYTES", (-1, 1)),
                ("region", "BYTES", (-1,)),
            ],
            CHURN,
            id="one-input-per-column",
        ),
        pytest.param([("a", "FP64", (-1, 1)), ("b", "BOOL", (-1, 1))], None, id="bool-column"),
        pytest.param([("a", "FP64", (-1, 1)), ("a", "FP64", (-1, 1))], None, id="same-name"),
        pytest.param([("a", "FP64", (-1, 1)), ("b", "FP64", (-1, 2))], None, id="wide-column"),
        pytest.param(
            [("only", "BYTES", (-1, 1))],
            FeatureSchema((Feature("only", CAT),)),
            id="one-column",
        ),
    ],
)
def test_schema_from_declared_tensors(
    inputs: list[tuple[str, str, tuple[int, ...]]], expected: FeatureSchema | None
) -> None:
    tensors = [TensorMetadata(name, datatype, shape) for name, datatype, shape in inputs]
    assert schema_from_tensors(tensors) == expected


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param(
            [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [2]}}],
            FeatureSchema((Feature("a"), Feature("b"))),
            id="v1-names",
        ),
        pytest.param(
            [{"messagetype": "tensor", "schema": {"shape": [4]}}],
            FeatureSchema.positional(4),
            id="v1-shape-only",
        ),
        pytest.param(
            [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [3]}}],
            None,
            id="v1-names-and-shape-disagree",
        ),
        pytest.param(
            [{"messagetype": "jsonData", "schema": {"type": "object"}}], None, id="v1-json"
        ),
        pytest.param(
            [
                {"name": "tenure", "datatype": "FP64", "shape": [-1, 1]},
                {"name": "contract", "datatype": "BYTES", "shape": [-1, 1]},
            ],
            FeatureSchema((Feature("tenure", NUM), Feature("contract", CAT))),
            id="v2-form",
        ),
        pytest.param([], None, id="none"),
    ],
)
def test_seldon_metadata_forms(inputs: list[Any], expected: FeatureSchema | None) -> None:
    body = {"name": "m", "versions": ["v3"], "platform": "seldon", "inputs": inputs}
    metadata = parse_seldon_metadata(body)
    assert metadata.features == expected
    assert metadata.versions == ("v3",)


async def test_seldon_sends_names_and_mixed_rows_and_takes_the_version_from_metadata() -> None:
    seen: list[tuple[str, Any]] = []
    metadata = {
        "name": "churn",
        "versions": ["churn-7"],
        "inputs": [{"name": f.name, "datatype": "BYTES", "shape": [-1, 1]} for f in CHURN.features],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, json.loads(request.content) if request.content else None))
        if request.method == "GET":
            return httpx.Response(200, json=metadata)
        rows = len(json.loads(request.content)["data"]["ndarray"])
        return httpx.Response(
            200, json={"data": {"names": ["a", "b"], "ndarray": [[0.9, 0.1]] * rows}}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = SeldonClient(http, name="churn", base_url="http://model")
        await client.metadata()
        output = await client.predict(ROWS, features=CHURN)
        # Placeholder names (f0 …) are mlgraph's, not the model's: not sent.
        await client.predict([[1.0, 2.0]], features=FeatureSchema.positional(2))
    assert seen[1] == ("POST", {"data": {"names": CHURN.names, "ndarray": ROWS}})
    assert seen[2] == ("POST", {"data": {"ndarray": [[1.0, 2.0]]}})
    # The metadata read for the schema also gave the version: no second GET.
    assert [method for method, _ in seen] == ["GET", "POST", "POST"]
    assert output.model_version == "churn-7"


async def test_v2_sends_categorical_rows_one_input_per_column_with_the_pandas_content_type() -> (
    None
):
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        proba = {
            "name": "predict_proba",
            "shape": [2, 2],
            "datatype": "FP64",
            "data": [0.9, 0.1] * 2,
        }
        return httpx.Response(200, json={"outputs": [proba]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = V2Client(http, name="churn", base_url="http://x", probabilities=True)
        await client.predict(ROWS, features=CHURN)
        # An all-numerical schema, named or not, keeps the single FP64 tensor.
        numbers = FeatureSchema((Feature("a"), Feature("b")))
        await client.predict([[1.0, 2.0], [3.0, 4.0]], features=numbers)
    assert bodies[0] == {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "tenure", "shape": [2, 1], "datatype": "FP64", "data": [3.0, 60.0]},
            {"name": "monthly_charges", "shape": [2, 1], "datatype": "FP64", "data": [95.5, 40.0]},
            {
                "name": "contract",
                "shape": [2, 1],
                "datatype": "BYTES",
                "data": ["monthly", "two-year"],
                "parameters": {"content_type": "str"},
            },
            {
                "name": "region",
                "shape": [2, 1],
                "datatype": "BYTES",
                "data": ["north", "south"],
                "parameters": {"content_type": "str"},
            },
        ],
        "outputs": [{"name": "predict_proba"}],
    }
    assert bodies[1]["inputs"] == [
        {"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [1.0, 2.0, 3.0, 4.0]}
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        pytest.param([[1.0, 2.0, "monthly"]], "3 features, the schema 4", id="narrow"),
        pytest.param(
            [[1.0, "x", "monthly", "north"]], "'monthly_charges' must hold numbers", id="str"
        ),
        pytest.param([[1.0, 2.0, 3.0, "north"]], "'contract' must hold strings", id="number"),
    ],
)
async def test_rows_that_do_not_fit_the_schema_are_never_sent(
    rows: list[list[float | str]], message: str
) -> None:
    transport = httpx.MockTransport(lambda r: pytest.fail("nothing should be sent"))
    async with httpx.AsyncClient(transport=transport) as http:
        for client in (
            SeldonClient(http, name="m", base_url="http://x", version="1"),
            V2Client(http, name="m", base_url="http://x"),
        ):
            with pytest.raises(ValueError, match=message):
                await client.predict(rows, features=CHURN)
