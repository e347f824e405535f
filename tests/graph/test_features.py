"""graph.features: the column-at-a-time check agrees with the value-by-value one on any input;
named columns (Seldon's data.names, V2's inputs) are put in the schema's order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.errors import BadUserInput
from graph.features import Batch, _check_values, _fits, check_batch, fit_batch
from mlclient import Feature, FeatureKind, FeatureSchema

SCHEMA = FeatureSchema((Feature("a"), Feature("b", FeatureKind.CATEGORICAL), Feature("c")))
values = (
    st.floats()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.booleans()
    | st.none()
    | st.text(st.characters(), max_size=12)
    | st.sampled_from(["x" * 13, "a\x00b", "\ud800", "é", 1e308, -1e308, float("nan")])
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(values, min_size=3, max_size=3), min_size=1, max_size=4))
def test_the_fast_check_accepts_only_what_the_slow_one_does(rows: list[list[Any]]) -> None:
    fast = _fits([list(row) for row in rows], SCHEMA, 12)
    try:
        slow = _check_values(rows, SCHEMA, "mixedRows", 12, known=True)
    except BadUserInput:
        assert fast is None
        return
    if fast is not None:
        assert fast == slow
        assert [[type(v) for v in row] for row in fast] == [[float, str, float]] * len(rows)


@pytest.mark.parametrize(
    ("row", "feature"),
    [
        ([1, "x", float("inf")], "c"),
        ([True, "x", 1], "a"),
        ([1, "x" * 13, 1], "b"),
        ([10**400, "x", 1], "a"),
        ([1, 10**400, 1], "b"),
        ([1, "\ud800", 1], "b"),
    ],
)
def test_a_row_that_does_not_fit_names_its_feature(row: list[Any], feature: str) -> None:
    with pytest.raises(BadUserInput) as raised:
        fit_batch(
            Batch("mixedRows", rows=[[1, "y", 2], row]), SCHEMA, model_name="m", max_length=12
        )
    assert raised.value.extensions["row"] == 1
    assert raised.value.extensions["feature"] == feature


def _named(names: list[str], rows: list[list[Any]]) -> Batch:
    return check_batch(
        "data.ndarray", rows=rows, names=names, names_argument="data.names",
        max_rows=10, max_features=10,
    )  # fmt: skip


def test_named_columns_are_put_in_the_schema_order() -> None:
    checked = fit_batch(
        _named(["c", "a", "b"], [[3, 1, "x"]]), SCHEMA, model_name="m", max_length=12
    )
    assert checked.rows == [[1.0, "x", 3.0]]
    assert checked.schema == SCHEMA


@pytest.mark.parametrize(
    ("names", "feature", "says"),
    [
        (["a", "b", "z"], "z", "has no feature 'z'; its features are a, b, c"),
        (["a", "b"], "c", "feature 'c' is missing"),
    ],
)
def test_named_columns_must_be_the_schema_features(
    names: list[str], feature: str, says: str
) -> None:
    with pytest.raises(BadUserInput, match=says) as raised:
        fit_batch(_named(names, [[1, "x", 2][: len(names)]]), SCHEMA, model_name="m", max_length=12)
    assert raised.value.extensions == {
        "argument": "data.names", "feature": feature, "code": "BAD_USER_INPUT",
    }  # fmt: skip


def test_names_must_fit_the_rows_and_be_unique() -> None:
    with pytest.raises(BadUserInput, match="holds 2 names for rows of 3 values"):
        _named(["a", "b"], [[1, "x", 2]])
    with pytest.raises(BadUserInput, match="feature 'a' is given more than once"):
        _named(["a", "a", "b"], [[1, "x", 2]])


def test_named_columns_name_an_unknown_schema_and_keep_a_positional_one() -> None:
    unknown = fit_batch(_named(["x", "y"], [[1, "s"]]), None, model_name="m", max_length=12)
    assert unknown.schema == FeatureSchema((Feature("x"), Feature("y", FeatureKind.CATEGORICAL)))
    assert unknown.schema.named
    positional = FeatureSchema.positional(2)
    known = fit_batch(_named(["y", "x"], [[1, 2]]), positional, model_name="m", max_length=12)
    assert (known.rows, known.schema) == ([[1.0, 2.0]], positional)
