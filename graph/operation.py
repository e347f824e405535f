"""What happens around every GraphQL operation: limits, caches, error codes and metrics.

Before it runs: the document's limits and caches (graph/middleware/limits.py). After it: every
error gets its code (graph/errors.py), and the operation is counted and handed to the request
log (graph/metrics.py).

A query or mutation POSTed over HTTP whose document parses and validates, the every-call case,
runs in ``execute_plain``: the cached document straight to graphql-core's executor with
Strawberry's schema and resolvers. Strawberry's ``Schema.execute`` around it builds an execution
context, a list of extensions, their runner and a middleware manager for every operation and
enters a context manager per stage, for nothing our schema uses: about 30 of the 50 µs a
trivial mutation took to execute (bench/RESULTS.md). Anything else (a document that does not
parse or validate, a subscription, GET, WebSockets) takes Strawberry's way, where
``OperationHooks``, one schema extension with one hook, applies the same limits, codes and
counts; tests/graph/test_plain_operations.py holds both ways to the same answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, OperationDefinitionNode, OperationType, execute, get_operation_ast
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from graph.errors import with_code
from graph.metrics import outcome, record_operation
from graph.middleware.limits import DocumentLimits

__all__ = ["OperationHooks", "execute_plain", "needs_operation_name"]

_PLAIN = (OperationType.QUERY, OperationType.MUTATION)


class OperationHooks(SchemaExtension):
    """Limits, caches, error codes and metrics of one operation (one instance per operation).

    Everything is done in ``on_operation``: the document is parsed and validated (from the
    caches) before the operation begins, which Strawberry then takes as done, so that the
    parse and validation stages need no hooks of their own.
    """

    def __init__(self, limits: DocumentLimits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # Should Strawberry parse or validate itself, it holds the document to the same limits.
        context.parse_options["max_tokens"] = self.limits.max_tokens
        context.validation_rules = self.limits.rules
        if context.query and context.graphql_document is None:
            try:
                document, errors = self.limits.check(context.schema._schema, context.query)
            except GraphQLError:
                # Strawberry parses it again and answers the error as its own (once: errors
                # are not cached), and the exit below still codes and counts it.
                pass
            else:
                context.graphql_document = document
                context.pre_execution_errors = errors
        started = time.perf_counter()
        yield
        result = context.result
        errors = finish(
            context.context, context.operation_name, getattr(result, "errors", None), started
        )
        if errors:
            result.errors = errors  # type: ignore[union-attr]


async def execute_plain(
    schema: strawberry.Schema,
    limits: DocumentLimits,
    request: GraphQLRequestData,
    context: Any,
) -> ExecutionResult | None:
    """Run a POSTed query or mutation as Strawberry would, without its per-operation machinery
    (see the module); ``None`` when it must go Strawberry's way."""
    if not request.query:
        return None
    try:
        document, errors = limits.check(schema._schema, request.query)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, request.operation_name)
    if errors or operation is None or operation.operation not in _PLAIN:
        return None
    started = time.perf_counter()
    result = execute(
        schema._schema,
        document,
        variable_values=request.variables,
        operation_name=request.operation_name,
        context_value=context,
        # What Strawberry's Schema.execute passes: its check is cheaper than graphql-core's.
        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        executor_class=schema.execution_context_class,
    )
    if not isinstance(result, GraphQLExecutionResult):
        result = await result
    name = request.operation_name or (operation.name.value if operation.name else None)
    errors = finish(context, name, result.errors, started)
    return ExecutionResult(data=result.data, errors=errors or None)


def needs_operation_name(
    schema: strawberry.Schema, limits: DocumentLimits, request: GraphQLRequestData
) -> bool:
    """True when the document holds several operations and the request names none.

    The GraphQL spec makes that a request error ("GetOperation"); Strawberry ran the first.
    A document that does not parse is left for Strawberry to answer."""
    if request.operation_name is not None or not request.query:
        return False
    try:
        document, _ = limits.check(schema._schema, request.query)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return len(operations) > 1


def finish(
    context: Any, operation_name: str | None, errors: Sequence[GraphQLError] | None, started: float
) -> list[GraphQLError]:
    """Code the operation's errors and count it; returns the coded errors."""
    coded = list(errors or ())
    if coded:
        # While the database schema is behind, a failed query says so (graph/errors.py).
        problem = getattr(context, "schema_problem", None)
        coded = [with_code(error, schema_problem=problem) for error in coded]
    record_operation(
        getattr(context, "request", None),
        operation_name or "anonymous",
        outcome(coded),
        graphql_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    return coded
