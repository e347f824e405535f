"""Completing plain objects in one pass: what graphql-core does field by field, done at once.

graphql-core completes every field of a result object the same way, whatever the field: it
makes a path entry and a resolve-info tuple, calls the resolver, checks twice whether the value
is awaitable, then walks the field's type (non-null, list, leaf, object) to complete the value.
For the objects mlgraph answers with most (a classify result: its predictions, each with its
class probabilities), every field is a plain attribute, and that machinery was 12 % of a worker
at 32 clients (bench/RESULTS.md).

``PlainCompletion`` is Strawberry's execution context with one change: an object whose selected
fields are all plain (an attribute with no resolver, no arguments, no directives, no fragments)
is completed by a plan made once per selection (``_Plan``) and kept with the cached document's
nodes, which read each attribute and coerce each leaf with the same functions graphql-core uses.
Anything else takes graphql-core's way, and so does any object the plan cannot complete as is
(a null in a non-null field, a value of the wrong kind, a resolver that raises): reading a plain
attribute changes nothing, so graphql-core then completes the same object again and reports its
error, path and nulls as it always has (tests/graph/test_completion.py holds both to the same
answers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

__all__ = ["PlainCompletion"]

Complete = Callable[[Any], Any]

# Plans by selection: (the object type, the ids of the selection's field nodes). The nodes are
# kept in the value, so that an id cannot be reused while its plan is here; a document evicted
# from the parse cache stays alive only until its plans are evicted too.
_PLANS: dict[tuple[GraphQLObjectType, tuple[int, ...]], tuple[list[FieldNode], _Plan | None]] = {}
_MAX_PLANS = 512


class _NotPlain(Exception):
    """A value the plan does not complete itself; graphql-core does."""


class PlainCompletion(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, completing plain objects by a plan (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # This operation's plans by (type, selection): every item of a list shares its field's
        # selection, so each item costs one look-up here. The selection is kept with its plan,
        # so that its id cannot be reused while the operation runs (as graphql-core's own
        # memo of collected fields does).
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[FieldDetailsList, _Plan | None]]
        self._plans = {}

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        key = (return_type, id(field_details_list))
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = (
                field_details_list,
                self._plan_for(return_type, field_details_list),
            )
        plan = found[1]
        if plan is not None:
            try:
                return plan.complete(result)
            except Exception:
                pass  # graphql-core's way, below, reports what it is
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def _plan_for(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> _Plan | None:
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return None  # middleware wraps every resolver: graphql-core calls them
        if any(
            d.defer_usage is not None or d.fragment_variable_values is not None
            for d in field_details_list
        ):
            return None
        return _plan(return_type, [d.node for d in field_details_list])


class _Plan:
    """How to complete one selection on one object type: (response key, read, complete)."""

    __slots__ = ("fields",)

    def __init__(self, fields: list[tuple[str, Complete, Complete]]) -> None:
        self.fields = fields

    def complete(self, source: Any) -> dict[str, Any]:
        return {key: complete(read(source)) for key, read, complete in self.fields}


def _plan(type_: GraphQLObjectType, nodes: list[FieldNode]) -> _Plan | None:
    key = (type_, tuple(map(id, nodes)))
    cached = _PLANS.get(key)
    if cached is None:
        cached = (nodes, _make_plan(type_, nodes))  # may keep plans of its own
        if len(_PLANS) >= _MAX_PLANS:
            del _PLANS[next(iter(_PLANS))]
        _PLANS[key] = cached
    return cached[1]


def _make_plan(type_: GraphQLObjectType, nodes: list[FieldNode]) -> _Plan | None:
    if type_.is_type_of is not None:  # an object behind an interface: graphql-core checks it
        return None
    grouped: dict[str, list[FieldNode]] = {}
    for node in nodes:
        if node.selection_set is None:
            return None
        for selection in node.selection_set.selections:
            # A fragment, or a directive (@skip, @include, @defer), makes what is selected
            # depend on the type or on variables: graphql-core's collection decides.
            if not isinstance(selection, FieldNode) or selection.directives:
                return None
            key = selection.alias.value if selection.alias else selection.name.value
            grouped.setdefault(key, []).append(selection)
    fields: list[tuple[str, Complete, Complete]] = []
    for key, selections in grouped.items():
        name = selections[0].name.value
        if name == "__typename":
            fields.append((key, _constant(type_.name), _same))
            continue
        field = type_.fields.get(name)
        if field is None or not _is_plain(field, selections):
            return None
        complete = _completion(field.type, selections)
        if complete is None:
            return None
        fields.append((key, _reader(field), complete))
    return _Plan(fields)


def _is_plain(field: GraphQLField, selections: Sequence[FieldNode]) -> bool:
    # Strawberry marks the resolver of a field with no resolver, permission or extension of
    # its own: it reads the attribute (with the schema's default resolver).
    plain = field.resolve is not None and getattr(field.resolve, "_is_default", False)
    return plain and not field.args and not any(s.arguments for s in selections)


def _reader(field: GraphQLField) -> Complete:
    resolve = field.resolve
    assert resolve is not None
    return lambda source: resolve(source, None)


def _completion(type_: GraphQLOutputType, selections: list[FieldNode]) -> Complete | None:
    if isinstance(type_, GraphQLNonNull):
        inner = _completion(type_.of_type, selections)
        return None if inner is None else _non_null(inner)
    if isinstance(type_, GraphQLList):
        inner = _completion(type_.of_type, selections)
        return None if inner is None else _list(inner)
    if isinstance(type_, GraphQLLeafType):
        return _leaf(type_)
    if isinstance(type_, GraphQLObjectType):
        plan = _plan(type_, selections)
        return None if plan is None else _nullable(plan.complete)
    return None  # an interface or a union: graphql-core resolves the object's type


def _non_null(inner: Complete) -> Complete:
    def complete(value: Any) -> Any:
        completed = inner(value)
        if completed is None:
            raise _NotPlain  # graphql-core raises the non-null error, with its path
        return completed

    return complete


def _list(inner: Complete) -> Complete:
    def complete(value: Any) -> Any:
        if not isinstance(value, list | tuple):  # iterators, async iterables, mistakes
            raise _NotPlain
        return [inner(item) for item in value]

    return _nullable(complete)


def _leaf(type_: GraphQLLeafType) -> Complete:
    coerce = type_.coerce_output_value

    def complete(value: Any) -> Any:
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise _NotPlain
        return coerced

    return _nullable(complete)


def _nullable(inner: Complete) -> Complete:
    """``inner`` for a value, null for null; an exception as a value is graphql-core's."""

    def complete(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise _NotPlain
        return inner(value)

    return complete


def _constant(value: str) -> Complete:
    return lambda _source: value


def _same(value: Any) -> Any:
    return value
