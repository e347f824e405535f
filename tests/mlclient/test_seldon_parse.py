"""parse_predictions: every response shape a Seldon v1 model can give, and the broken ones."""

from __future__ import annotations

from typing import Any

import pytest

from mlclient import BadModelResponse, RowPrediction
from mlclient.seldon import parse_predictions


def test_names_with_probability_matrix_gives_most_probable_class() -> None:
    body = {"data": {"names": ["a", "b", "c"], "ndarray": [[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]}}
    rows = parse_predictions(body, 2)
    assert rows == [
        RowPrediction("b", {"a": 0.1, "b": 0.7, "c": 0.2}),
        RowPrediction("a", {"a": 0.5, "b": 0.2, "c": 0.3}),
    ]


def test_matrix_without_names_uses_configured_class_names_then_indexes() -> None:
    body = {"data": {"ndarray": [[0.2, 0.8]]}}
    assert parse_predictions(body, 1, ["no", "yes"])[0].label == "yes"
    assert parse_predictions(body, 1)[0] == RowPrediction("1", {"0": 0.2, "1": 0.8})


@pytest.mark.parametrize(
    ("ndarray", "labels"),
    [
        ([0, 2, 1], ["0", "2", "1"]),
        ([0.0, 2.0, 1.5], ["0", "2", "1.5"]),
        (["cat", "dog", "cat"], ["cat", "dog", "cat"]),
        ([[1], [0], [1]], ["1", "0", "1"]),
    ],
)
def test_plain_labels(ndarray: list[Any], labels: list[str]) -> None:
    rows = parse_predictions({"data": {"ndarray": ndarray}}, 3)
    assert [r.label for r in rows] == labels
    assert all(r.probabilities is None for r in rows)


def test_tensor_is_reshaped_into_rows() -> None:
    body = {
        "data": {"names": ["a", "b"], "tensor": {"shape": [2, 2], "values": [0.9, 0.1, 0.3, 0.7]}}
    }
    assert [r.label for r in parse_predictions(body, 2)] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "no 'data'"),
        ([1, 2], "no 'data'"),
        ({"data": {"strData": "x"}}, "neither 'ndarray' nor 'tensor'"),
        ({"data": {"ndarray": "x"}}, "not a list"),
        ({"data": {"ndarray": [[0.1, 0.9]]}}, "1 rows for 2 inputs"),
        ({"data": {"names": ["a"], "ndarray": [[0.1, 0.9], [0.2, 0.8]]}}, "2 probabilities for 1"),
        ({"data": {"names": "ab", "ndarray": [[0.1, 0.9], [0.2, 0.8]]}}, "not a list of strings"),
        ({"data": {"ndarray": [[0.1, "x"], [0.2, 0.8]]}}, "not a probability vector"),
        ({"data": {"ndarray": [None, 1]}}, "neither text nor a number"),
        ({"data": {"ndarray": [True, 1]}}, "neither text nor a number"),
        ({"data": {"tensor": {"shape": [2, 2], "values": [1, 2, 3]}}}, "does not match"),
    ],
)
def test_malformed_bodies_raise_bad_model_response(body: Any, message: str) -> None:
    with pytest.raises(BadModelResponse, match=message):
        parse_predictions(body, 2)


def test_non_finite_probability_is_rejected() -> None:
    with pytest.raises(BadModelResponse):
        parse_predictions({"data": {"ndarray": [[float("nan"), 0.5]]}}, 1)
