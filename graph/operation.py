"""What happens around every GraphQL operation, in one schema extension.

Before it runs: the document's limits and caches (graph/middleware/limits.py). After it: every
error gets its code (graph/errors.py), and the operation is counted and handed to the request
log (graph/metrics.py). One extension with one hook rather than six extensions (two caches,
two limiters, metrics, codes): Strawberry builds every extension anew for each operation and
runs each hook in a context manager of its own, machinery that took about 8 % of classify's
CPU under load (bench/RESULTS.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graph.errors import with_code
from graph.metrics import outcome, record_operation
from graph.middleware.limits import DocumentLimits

__all__ = ["OperationHooks"]


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
        context.parse_options["max_tokens"] = self.limits.max_tokens
        context.validation_rules = context.validation_rules + self.limits.rules
        if context.query and context.graphql_document is None:
            try:
                document = self.limits.parse(context.query, **context.parse_options)
            except GraphQLError:
                # Strawberry parses it again and answers the error as its own (once: errors
                # are not cached), and the exit below still codes and counts it.
                pass
            else:
                context.graphql_document = document
                context.pre_execution_errors = self.limits.validate(
                    context.schema._schema, document, context.validation_rules
                )
        started = time.perf_counter()
        yield
        result = context.result
        errors = getattr(result, "errors", None) or []
        if errors:
            # While the database schema is behind, a failed query says so (graph/errors.py).
            problem = getattr(context.context, "schema_problem", None)
            errors = [with_code(error, schema_problem=problem) for error in errors]
            result.errors = errors  # type: ignore[union-attr]
        record_operation(
            getattr(context.context, "request", None),
            context.operation_name or "anonymous",
            outcome(errors),
            graphql_ms=round((time.perf_counter() - started) * 1000, 3),
        )
