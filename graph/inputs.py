"""Input types built straight from the values graphql-core has already coerced.

For every argument of every request Strawberry converts GraphQL's values to Python again
(``convert_argument``): it resolves each input field's type anew and walks every element of
every list, only to hand the same floats and strings back. On classify that was 7 % of
mlgraph's CPU under load for one row of four features (bench/RESULTS.md). ``plain_input``
gives an input type a ``from_input`` hook (Strawberry's own extension point, used by its
pydantic integration) that copies fields of scalars, and of lists of them, in one step, and
leaves any other field to Strawberry's conversion.

graphql-core has validated and coerced everything by then (types, non-null, custom scalars'
``parse_value``), so nothing is skipped: lists are still copied, since graphql-core may hand
every request the same default value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryList, StrawberryOptional, StrawberryType
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

__all__ = ["plain_input"]

T = TypeVar("T")
_Copy = Callable[[Any], Any]


def plain_input(cls: type[T]) -> type[T]:
    """Decorate a ``@strawberry.input`` class (above it) to build it without per-element
    conversion; see the module docstring."""
    definition: Any = getattr(cls, "__strawberry_definition__", None)
    if not getattr(definition, "is_input", False):
        raise TypeError(f"{cls.__name__} is not a strawberry.input type")
    # (graphql name, field, copier or None for Strawberry's conversion), made at the first
    # request, once the schema has resolved every annotation.
    plan: list[tuple[str, StrawberryField, _Copy | None]] | None = None

    def build(type_: type, value: Mapping[str, Any], context: InputContext) -> Any:
        nonlocal plan
        if plan is None:
            plan = [
                (
                    context.config.name_converter.from_field(field),
                    field,
                    _copier(field.resolve_type(type_definition=definition), context),
                )
                for field in definition.fields
            ]
        kwargs: dict[str, Any] = {}
        for graphql_name, field, copy in plan:
            if graphql_name not in value:
                continue
            item = value[graphql_name]
            kwargs[field.python_name] = (
                copy(item)
                if copy is not None
                else context.convert(
                    item, field.resolve_type(type_definition=definition), graphql_name
                )
            )
        return type_(**kwargs)

    definition.from_input = build
    return cls


def _copier(type_: StrawberryType | type, context: InputContext) -> _Copy | None:
    """A function returning the Python value for a coerced GraphQL value of ``type_``, or
    ``None`` when only Strawberry's conversion knows how (input objects, enums, IDs)."""
    if isinstance(type_, StrawberryOptional):
        inner = _copier(type_.of_type, context)
        if inner is None:
            return None
        return lambda value: None if value is None else inner(value)
    if isinstance(type_, StrawberryList):
        item = _copier(type_.of_type, context)
        if item is None:
            return None
        if item is _same:
            return list
        return lambda value: [item(x) for x in value]
    if isinstance(type_, StrawberryEnumDefinition) or type_ in _CONVERTED:
        return None
    if is_scalar(type_, context.scalar_registry):
        return _same
    return None


def _same(value: Any) -> Any:
    return value


def _converted() -> tuple[object, ...]:
    # Scalars Strawberry turns into objects of its own after graphql-core's coercion.
    from strawberry.relay.types import GlobalID

    return (GlobalID,)


_CONVERTED = _converted()
