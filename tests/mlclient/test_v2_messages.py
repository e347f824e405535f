"""mlclient.v2_messages: inference requests read into rows, answers shaped for the client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlclient import ModelAnswer, RowPrediction
from mlclient.v2_messages import MessageError, outputs_to_ask, parse_infer_request, reply


def _tensor(name: str, shape: list[int], datatype: str, data: list[Any]) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_one_tensor_is_positional_rows() -> None:
    request = parse_infer_request(
        {
            "id": "r1",
            "inputs": [_tensor("input-0", [2, 2], "FP32", [[1, 2], [3, 4]])],
            "outputs": [{"name": "predict_proba", "parameters": {"binary_data": True}}],
        }
    )
    assert (request.rows, request.names, request.id) == ([[1, 2], [3, 4]], None, "r1")
    assert request.outputs == ("predict_proba",)


def test_one_input_per_column_is_named_rows() -> None:
    request = parse_infer_request(
        {
            "parameters": {"content_type": "pd"},
            "inputs": [
                _tensor("tenure", [2, 1], "INT64", [3, 60]),
                _tensor("contract", [2], "BYTES", ["monthly", "two-year"]),
            ],
        }
    )
    assert request.rows == [[3, "monthly"], [60, "two-year"]]
    assert request.names == ["tenure", "contract"]
    assert (request.id, request.outputs) == (None, ())


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"inputs": []}, "non-empty list"),
        ({"inputs": [_tensor("x", [1, 2], "BOOL", [True, False])]}, "BOOL"),
        ({"inputs": [_tensor("x", [1, 2], "FP32", [1])]}, "needs 2 values"),
        ({"inputs": [_tensor("x", [1, 1], "BYTES", [1])]}, "must be strings"),
        ({"inputs": [_tensor("x", [1, 2, 2], "FP32", [1, 2, 3, 4])]}, r"shape \[rows, features\]"),
        (
            {"inputs": [_tensor("a", [1, 2], "FP32", [1, 2]), _tensor("b", [1], "FP32", [1])]},
            "must be one column",
        ),
        (
            {"inputs": [_tensor("a", [2], "FP32", [1, 2]), _tensor("b", [1], "FP32", [1])]},
            "same number of rows",
        ),
        (
            {
                "inputs": [
                    {**_tensor("x", [1, 1], "FP32", []), "parameters": {"binary_data_size": 4}}
                ]
            },
            "binary tensor data is not supported",
        ),
        ({"id": 3, "inputs": [_tensor("x", [1], "FP32", [1])]}, "id must be a string"),
    ],
)
def test_what_cannot_be_read_says_what(body: dict[str, Any], says: str) -> None:
    with pytest.raises(MessageError, match=says):
        parse_infer_request(body)


def test_outputs_to_ask() -> None:
    assert outputs_to_ask((), probabilities=True) == ("predict",)
    assert outputs_to_ask((), probabilities=False) == ()
    assert outputs_to_ask(("predict_proba",), probabilities=True) == ("predict_proba",)


PROBA = {"name": "predict_proba", "shape": [1, 2], "datatype": "FP64", "data": [0.9, 0.1]}
LABELS = {"name": "predict", "shape": [1, 1], "datatype": "INT64", "data": [0]}


def _answer(body: dict[str, Any]) -> ModelAnswer:
    return ModelAnswer(json.dumps(body, indent=1).encode(), body)


def _reply(answer: ModelAnswer | None, requested: tuple[str, ...], **rows: Any) -> bytes:
    return reply(
        answer,
        rows.get("rows", []),
        request_id="r1",
        requested=requested,
        model_name="iris",
        model_version="v1",
    )


def test_reply_is_the_models_bytes_when_nothing_changes() -> None:
    answer = _answer({"model_name": "iris", "id": "r1", "outputs": [LABELS, PROBA]})
    assert _reply(answer, ()) is answer.content
    assert _reply(answer, ("predict", "predict_proba")) is answer.content


def test_reply_keeps_only_the_outputs_asked_for_and_sets_the_id() -> None:
    answer = _answer({"model_name": "iris", "id": "other", "outputs": [PROBA, LABELS]})
    assert json.loads(_reply(answer, ("predict",))) == {
        "model_name": "iris",
        "id": "r1",
        "outputs": [LABELS],
    }


def test_a_replay_is_built_from_the_predictions() -> None:
    rows = [RowPrediction("setosa", {"setosa": 0.9, "virginica": 0.1})]
    built = json.loads(_reply(None, (), rows=rows))
    assert built["id"] == "r1"
    assert (built["model_name"], built["model_version"]) == ("iris", "v1")
    assert built["outputs"] == [
        {"name": "predict", "shape": [1, 1], "datatype": "BYTES", "data": ["setosa"]},
        {"name": "predict_proba", "shape": [1, 2], "datatype": "FP64", "data": [0.9, 0.1]},
    ]
    assert [
        o["name"] for o in json.loads(_reply(None, ("predict_proba",), rows=rows))["outputs"]
    ] == ["predict_proba"]
