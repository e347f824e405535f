"""graph/completion.py: plain objects completed by a plan give exactly graphql-core's answers,
errors and nulls included, and anything the plan does not cover is left to graphql-core."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import DocumentNode, ExecutionResult, execute, parse
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph import completion
from graph.completion import PlainCompletion


@strawberry.type
class Part:
    name: str
    weight: float | None


@strawberry.type
class Item:
    id: strawberry.ID
    label: str
    score: float
    tags: list[str]
    parts: list[Part] | None
    best: Part | None
    strict: Part

    @strawberry.field
    def shout(self) -> str:
        return self.label.upper()

    @strawberry.field
    def scaled(self, by: float) -> float:
        return self.score * by


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Tool(Named):
    size: int


def _item(**changes: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID("7"),
        "label": "a",
        "score": 0.5,
        "tags": ["x", "y"],
        "parts": [Part(name="p", weight=1.5), Part(name="q", weight=None)],
        "best": Part(name="b", weight=2.0),
        "strict": Part(name="s", weight=3.0),
    }
    values.update(changes)
    return Item(**values)


ITEMS: dict[str, list[Item]] = {
    "good": [_item(), _item(label="b", best=None, parts=None)],
    # What graphql-core coerces rather than refuses, the plan coerces alike.
    "coerced": [_item(label=3, score=2, tags=("x",), id=12)],
}
BROKEN = {
    # A null where the schema promises a value: the error names the field and its path.
    "null label": _item(label=None),
    "null strict part": _item(strict=None),
    "null part name": _item(parts=[Part(name=None, weight=1.0)]),  # type: ignore[arg-type]
    # Values of the wrong kind: coerced, or refused with graphql-core's message.
    "text score": _item(score="high"),
    "tags not a list": _item(tags="xy"),
    "an exception": _item(best=ValueError("no best part")),
    "nan weight": _item(parts=[Part(name="p", weight=float("nan"))]),
}


@strawberry.type
class Query:
    @strawberry.field
    def items(self, which: str = "good") -> list[Item]:
        return ITEMS[which] if which in ITEMS else [BROKEN[which]]

    @strawberry.field
    def tool(self) -> Named:
        return Tool(name="saw", size=3)


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query, types=[Tool], execution_context_class=PlainCompletion)
    reference = strawberry.Schema(
        query=Query, types=[Tool], execution_context_class=StrawberryGraphQLCoreExecutionContext
    )
    return plain, reference


def _answer(result: ExecutionResult | Any) -> tuple[Any, list[tuple[str, Any, Any]]]:
    errors = [(e.message, e.path, e.locations) for e in result.errors or ()]
    return result.data, errors


PLAIN_QUERIES = {
    "fields": "{ items { id label score tags } }",
    "coerced values": '{ items(which: "coerced") { id label score tags } }',
    "nested lists and nulls": "{ items { parts { name weight } best { name } strict { weight } } }",
    "aliases and repeats": "{ items { a: label b: label label label score } }",
    "merged sub-selections": "{ items { best { name } best { weight } } }",
    "typename": "{ items { __typename best { __typename name } } }",
}
FALLBACK_QUERIES = {
    "a resolver": "{ items { label shout } }",
    "an argument": "{ items { scaled(by: 2) } }",
    "a fragment": "{ items { ...F } } fragment F on Item { label }",
    "an inline fragment": "{ items { ... on Item { label } } }",
    "a directive": "query($x: Boolean!) { items { label @include(if: $x) score } }",
    "an interface": "{ tool { name ... on Tool { size } } }",
}


@pytest.mark.parametrize("query", PLAIN_QUERIES.values(), ids=PLAIN_QUERIES.keys())
async def test_a_plain_selection_is_completed_by_a_plan_with_graphql_cores_answer(
    query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, reference = _schemas()
    planned: list[object] = []
    real = completion._Plan.complete

    def complete(plan: completion._Plan, source: Any) -> dict[str, Any]:
        planned.append(source)
        return real(plan, source)

    monkeypatch.setattr(completion._Plan, "complete", complete)
    expected = _answer(await reference.execute(query))
    assert not planned  # the reference never plans
    assert _answer(await plain.execute(query)) == expected
    assert planned  # and PlainCompletion did
    assert expected[0] is not None
    assert not expected[1]


@pytest.mark.parametrize("query", FALLBACK_QUERIES.values(), ids=FALLBACK_QUERIES.keys())
async def test_what_a_plan_does_not_cover_is_left_to_graphql_core(
    query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, reference = _schemas()
    planned: list[object] = []
    monkeypatch.setattr(completion._Plan, "complete", planned.append)
    variables = {"x": False}
    expected = _answer(await reference.execute(query, variable_values=variables))
    assert _answer(await plain.execute(query, variable_values=variables)) == expected
    assert not planned
    assert not expected[1]


@pytest.mark.parametrize("which", BROKEN, ids=BROKEN.keys())
async def test_a_value_the_plan_cannot_complete_gets_graphql_cores_error_and_nulls(
    which: str,
) -> None:
    plain, reference = _schemas()
    query = (
        "query($which: String!) { items(which: $which) "
        "{ label score tags parts { name weight } best { name } strict { name weight } } }"
    )
    variables = {"which": which}
    expected = _answer(await reference.execute(query, variable_values=variables))
    assert _answer(await plain.execute(query, variable_values=variables)) == expected
    assert expected[1], "the broken value must be an error for graphql-core too"


def _run(schema: strawberry.Schema, document: DocumentNode) -> ExecutionResult:
    result = execute(schema._schema, document, executor_class=PlainCompletion)
    assert isinstance(result, ExecutionResult)
    return result


def test_a_document_run_again_reuses_its_plans() -> None:
    plain, _ = _schemas()
    document = parse("{ items { label best { name } } }")
    first = _run(plain, document)
    plans = dict(completion._PLANS)
    second = _run(plain, document)
    assert first.data == second.data
    assert completion._PLANS.keys() == plans.keys()
    assert all(completion._PLANS[key][1] is plan for key, (_, plan) in plans.items())


def test_the_plans_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, _ = _schemas()
    monkeypatch.setattr(completion, "_PLANS", {})
    monkeypatch.setattr(completion, "_MAX_PLANS", 3)
    for field in ("label", "score", "tags", "id"):
        assert _run(plain, parse(f"{{ items {{ {field} best {{ name }} }} }}")).errors is None
    assert len(completion._PLANS) == 3
