"""GraphQL types for features: the values callers send, and what a schema says of each feature.

Two scalars carry feature values, because GraphQL has no type that is "a number or a string"
and no input type whose field names are chosen at run time:

- ``FeatureValue``: a number (numerical feature) or a string (categorical feature).
- ``FeatureRecord``: one row keyed by feature name, ``{income: 52000, region: "north"}`` in
  a query or a JSON object in variables.

Both refuse what is not a feature value (booleans, null, lists, objects) while parsing, so a
wrong type fails like any other GraphQL type error; whether a value fits its feature (kind,
length, finiteness, names) is checked against the model's schema by ``graph.features``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NewType

import strawberry
from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FloatValueNode,
    GraphQLError,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
)
from strawberry.types.scalar import ScalarDefinition

import mlclient
from graph.features import DuplicateKeys

__all__ = [
    "SCALARS",
    "FeatureInfo",
    "FeatureKind",
    "FeatureRecord",
    "FeatureValue",
]

FeatureValue = NewType("FeatureValue", object)
FeatureRecord = NewType("FeatureRecord", dict[str, object])

FeatureKind = strawberry.enum(
    mlclient.FeatureKind,
    name="FeatureKind",
    description="NUMERICAL features hold numbers, CATEGORICAL ones strings.",
)

_BOOLEANS = (
    'booleans are not feature values: send 0 or 1 for a numerical feature, "true" or "false" '
    "for a categorical one"
)


class _NotAValue(GraphQLError):
    # A GraphQLError, so graphql-core reports its message as the type error it is (not as an
    # unexpected exception, which would be masked as INTERNAL).
    pass


def _parse_value(value: Any) -> float | str:
    if isinstance(value, bool):
        raise _NotAValue(_BOOLEANS)
    if isinstance(value, int | float | str):
        return value
    raise _NotAValue(f"a feature value is a number or a string, not {_json_kind(value)}")


def _parse_value_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> float | str:
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, FloatValueNode):
        return float(node.value)
    if isinstance(node, StringValueNode):
        return node.value
    if isinstance(node, VariableNode):
        return _parse_value((variables or {}).get(node.name.value))
    if isinstance(node, BooleanValueNode):
        raise _NotAValue(_BOOLEANS)
    if isinstance(node, EnumValueNode):
        raise _NotAValue(f'{node.value} is not a feature value: quote a string, "{node.value}"')
    kind = {NullValueNode: "null", ListValueNode: "a list", ObjectValueNode: "an object"}
    raise _NotAValue(f"a feature value is a number or a string, not {kind.get(type(node), node)}")


def _parse_record(value: Any) -> dict[str, float | str]:
    if not isinstance(value, Mapping):
        raise _NotAValue(f"a record is an object of feature values, not {_json_kind(value)}")
    parsed = DuplicateKeys() if isinstance(value, DuplicateKeys) else {}
    for name, item in value.items():
        try:
            parsed[name] = _parse_value(item)
        except _NotAValue as exc:
            raise _NotAValue(f"feature {name!r}: {exc.message}") from None
    if isinstance(value, DuplicateKeys):
        assert isinstance(parsed, DuplicateKeys)
        parsed.duplicates = value.duplicates
    return parsed


def _parse_record_literal(
    node: ValueNode, variables: dict[str, Any] | None = None
) -> dict[str, float | str]:
    if isinstance(node, VariableNode):
        return _parse_record((variables or {}).get(node.name.value))
    if not isinstance(node, ObjectValueNode):
        raise _NotAValue(
            'a record is an object of feature values: {income: 52000, region: "north"}'
        )
    # GraphQL's own validation already refused a name given twice in one object literal.
    record: dict[str, float | str] = {}
    for item in node.fields:
        try:
            record[item.name.value] = _parse_value_literal(item.value, variables)
        except _NotAValue as exc:
            raise _NotAValue(f"feature {item.name.value!r}: {exc.message}") from None
    return record


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


SCALARS: dict[object, ScalarDefinition] = {
    FeatureValue: strawberry.scalar(
        name="FeatureValue",
        description="A feature value: a number for a numerical feature, a string for a "
        "categorical one. Booleans, null, lists and objects are refused.",
        serialize=lambda value: value,
        parse_value=_parse_value,
        parse_literal=_parse_value_literal,
    ),
    FeatureRecord: strawberry.scalar(
        name="FeatureRecord",
        description='One row keyed by feature name: {income: 52000, region: "north"}. Each '
        "value is a FeatureValue; every feature of the model's schema must be given, once.",
        serialize=lambda value: value,
        parse_value=_parse_record,
        parse_literal=_parse_record_literal,
    ),
}


@strawberry.type(description="One feature of a model's input rows.")
class FeatureInfo:
    name: str
    kind: FeatureKind  # type: ignore[valid-type]
