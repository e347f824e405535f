"""graph.features: the column-at-a-time check agrees with the value-by-value one on any input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.errors import BadUserInput
from graph.features import Batch, _check_values, _fits, fit_batch
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
