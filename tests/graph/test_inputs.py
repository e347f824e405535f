"""plain_input builds input types exactly as Strawberry's own conversion does.

No ``from __future__ import annotations`` here: the resolvers below are annotated with types
local to a function, which Strawberry can resolve only when annotations are evaluated at once.
"""

import enum
from typing import Any

import pytest
import strawberry
from strawberry.relay import GlobalID

from graph.inputs import plain_input


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.input
class Inner:
    weight: float
    tags: list[str] | None = None


def _types(decorate: bool) -> tuple[type, type]:
    # The same input type twice: converted by Strawberry, and built by plain_input.
    @strawberry.input
    class Sample:
        rows: list[list[float]]
        name: str | None = None
        counts: list[int | None] | None = None
        colour: Colour = Colour.RED
        inner: Inner | None = None
        inners: list[Inner] | None = None
        node: GlobalID | None = None
        untouched: str = "default"

    sample = plain_input(Sample) if decorate else Sample

    @strawberry.type
    class Query:
        @strawberry.field
        def echo(self, sample: sample) -> str:  # type: ignore[valid-type]
            return repr(sample)

    return sample, Query


QUERY = "query Echo($sample: Sample!) { echo(sample: $sample) }"


def _echo(decorate: bool, sample: dict[str, Any]) -> Any:
    _, query = _types(decorate)
    result = strawberry.Schema(query=query).execute_sync(QUERY, variable_values={"sample": sample})
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data["echo"].replace(".<locals>", "")


@pytest.mark.parametrize(
    "sample",
    [
        {"rows": [[1, 2.5], [3.0, 4]]},
        {"rows": [], "name": None, "counts": None},
        {"rows": [[0.1]], "name": "x", "counts": [1, None, 3], "colour": "BLUE"},
        {"rows": [[1]], "inner": {"weight": 2}, "inners": [{"weight": 1, "tags": ["a"]}]},
        {"rows": [[1]], "node": str(GlobalID("Thing", "7"))},
    ],
)
def test_same_values_as_strawberry_s_conversion(sample: dict[str, Any]) -> None:
    assert _echo(True, sample) == _echo(False, sample)


def test_lists_are_copies_and_numbers_are_graphql_s_floats() -> None:
    sample_type, _ = _types(True)
    seen: list[Any] = []

    @strawberry.type
    class Capture:
        @strawberry.field
        def echo(self, sample: sample_type) -> str:  # type: ignore[valid-type]
            seen.append(sample)
            return ""

    rows = [[1, 2]]
    schema = strawberry.Schema(query=Capture)
    assert schema.execute_sync(QUERY, variable_values={"sample": {"rows": rows}}).errors is None
    (sample,) = seen
    assert sample.rows == [[1.0, 2.0]]
    assert all(isinstance(x, float) for x in sample.rows[0])
    assert sample.rows is not rows
    assert sample.untouched == "default"


def test_only_input_types_can_be_decorated() -> None:
    with pytest.raises(TypeError, match=r"not a strawberry\.input"):
        plain_input(Colour)


def test_rows_are_not_converted_element_by_element(monkeypatch: pytest.MonkeyPatch) -> None:
    import strawberry.types.arguments as arguments

    calls = {"count": 0}
    original = arguments.convert_argument

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(arguments, "convert_argument", counting)

    def count(decorate: bool, rows: int) -> int:
        calls["count"] = 0
        _echo(decorate, {"rows": [[float(i), 1.0, 2.0, 3.0] for i in range(rows)]})
        return calls["count"]

    # Strawberry's way grows with the rows (once per row at least); plain_input's does not
    # (what is left is the argument itself and the fields only Strawberry converts).
    assert count(False, 50) >= count(False, 5) + 45
    assert count(True, 50) == count(True, 5) < 10
