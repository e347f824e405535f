"""mlclient.seldon_messages: Seldon v1 requests read as the wrapper reads them, answers shaped as
it answers (the route tests compare with the real microservice)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlclient import ModelAnswer, RowPrediction
from mlclient.seldon_messages import MessageError, feedback_truth, parse_request, reply

PROBABILITIES = {"setosa": 0.9, "versicolor": 0.1}


def test_ndarray_with_names_and_a_puid() -> None:
    request = parse_request(
        {"data": {"names": ["a", "b"], "ndarray": [[1, "x"], [2, "y"]]}, "meta": {"puid": "p1"}}
    )
    assert (request.form, request.field, request.puid) == ("ndarray", "data.ndarray", "p1")
    assert request.rows == [[1, "x"], [2, "y"]]
    assert request.names == ["a", "b"]


def test_tensor_rows_and_seldon_clients_empty_defaults() -> None:
    # SeldonClient's proto JSON: names [] and puid "" when it has none.
    body = {"data": {"names": [], "tensor": {"shape": [2, 2], "values": [1.0, 2.0, 3.0, 4.0]}}}
    request = parse_request({**body, "meta": {"puid": ""}})
    assert (request.form, request.rows, request.names, request.puid) == (
        "tensor", [[1.0, 2.0], [3.0, 4.0]], None, None,
    )  # fmt: skip


def test_json_data_is_records() -> None:
    assert parse_request({"jsonData": {"a": 1}}).records == [{"a": 1}]
    assert parse_request({"jsonData": [{"a": 1}, {"a": 2}]}).records == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1], "body"),
        ({}, "data"),
        ({"data": {"ndarray": [1, 3, 3]}}, "data.ndarray"),
        ({"data": {"ndarray": []}}, "data.ndarray"),
        ({"data": {"tensor": {"shape": [3], "values": [1, 2, 3]}}}, "data.tensor"),
        ({"data": {"tensor": {"shape": [1, 3], "values": [1, 2]}}}, "data.tensor"),
        ({"data": {"tensor": {"shape": [1, 1], "values": ["a"]}}}, "data.tensor"),
        ({"data": {"tftensor": {}}}, "data.tftensor"),
        ({"data": {"names": "a", "ndarray": [[1]]}}, "data.names"),
        ({"strData": "hello"}, "strData"),
        ({"jsonData": [1]}, "jsonData"),
        ({"data": {"ndarray": [[1]]}, "meta": {"puid": 7}}, "meta.puid"),
    ],
)
def test_what_cannot_be_read_says_where(body: Any, field: str) -> None:
    with pytest.raises(MessageError) as raised:
        parse_request(body)
    assert raised.value.field == field


def _answer(body: dict[str, Any]) -> ModelAnswer:
    # Spaces the re-encoding would not write: the bytes tell a copy from the original.
    return ModelAnswer(json.dumps(body, indent=1).encode(), body)


def test_reply_is_the_models_bytes_when_it_holds_the_puid() -> None:
    answer = _answer({"data": {"names": ["a"], "ndarray": [[1.0]]}, "meta": {"puid": "p"}})
    assert reply(answer, [], puid="p", form="ndarray") is answer.content


def test_reply_sets_the_puid_and_keeps_the_rest() -> None:
    body = {"data": {"names": ["a"], "ndarray": [[1.0]]}, "meta": {"tags": {"x": 1}}}
    shaped = json.loads(reply(_answer(body), [], puid="p", form="ndarray"))
    assert shaped == {**body, "meta": {"tags": {"x": 1}, "puid": "p"}}


def test_a_tensor_request_gets_a_tensor_in_the_ndarrays_place() -> None:
    body = {"data": {"names": ["a", "b"], "ndarray": [[0.9, 0.1], [0.2, 0.8]]}, "meta": {}}
    shaped = json.loads(reply(_answer(body), [], puid="p", form="tensor"))
    assert shaped == {
        "data": {"names": ["a", "b"], "tensor": {"shape": [2, 2], "values": [0.9, 0.1, 0.2, 0.8]}},
        "meta": {"puid": "p"},
    }
    labels = {"data": {"names": [], "ndarray": ["x", "y"]}, "meta": {}}
    assert json.loads(reply(_answer(labels), [], puid="p", form="tensor"))["data"] == labels["data"]


def test_a_replay_is_built_from_the_predictions() -> None:
    rows = [RowPrediction("setosa", PROBABILITIES), RowPrediction("setosa", PROBABILITIES)]
    assert json.loads(reply(None, rows, puid="p", form="ndarray")) == {
        "data": {"names": ["setosa", "versicolor"], "ndarray": [[0.9, 0.1], [0.9, 0.1]]},
        "meta": {"puid": "p"},
    }
    plain = json.loads(reply(None, [RowPrediction("3")], puid="p", form="ndarray"))
    assert plain["data"] == {"names": [], "ndarray": ["3"]}


def test_feedback_truth_as_ndarray_or_tensor() -> None:
    assert feedback_truth({"data": {"ndarray": [["setosa"], [2]]}}) == [["setosa"], [2]]
    tensor = {"data": {"tensor": {"shape": [2, 1], "values": [2.0, 0.0]}}}
    assert feedback_truth(tensor) == [[2.0], [0.0]]
    assert feedback_truth({"data": {"tensor": {"shape": [2], "values": [2, 0]}}}) == [2, 0]
    with pytest.raises(MessageError):
        feedback_truth({"data": {}})
