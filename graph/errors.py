"""GraphQL errors with a machine-readable ``extensions.code``.

::

    AppError                 code
    ├── BadUserInput         BAD_USER_INPUT       the caller's arguments are wrong; fix and resend
    ├── NotFound             NOT_FOUND
    ├── Conflict             CONFLICT             e.g. a request id reused with other features
    ├── ModelUnavailable     MODEL_UNAVAILABLE    model down, timing out or failing; retry later
    ├── BadModelResponse     BAD_MODEL_RESPONSE   the model answered something unreadable
    ├── StorageUnavailable   STORAGE_UNAVAILABLE  database failed; retry with the same request id
    └── DatabaseNotMigrated  DATABASE_NOT_MIGRATED  the schema is behind: run `mlgraph migrate`

``with_code`` (applied to every result by graph/operation.py) puts each error's code into the
response; while the schema is behind, a failed query says so instead of "unavailable" (no retry
helps). GraphQL's own
parse and validation errors get ``GRAPHQL_PARSE_FAILED`` / ``GRAPHQL_VALIDATION_FAILED``, bad
variables ``BAD_USER_INPUT``, and anything unexpected is logged and masked as ``INTERNAL``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError

import db
import mlclient
from graph.middleware.limits import limit_code

__all__ = [
    "AppError",
    "BadModelResponse",
    "BadUserInput",
    "Conflict",
    "DatabaseNotMigrated",
    "ModelUnavailable",
    "NotFound",
    "StorageUnavailable",
    "from_model_error",
    "storage_error",
    "with_code",
]

logger = logging.getLogger("mlgraph.errors")


class AppError(Exception):
    """An error whose message is safe to show and whose code tells the caller what to do."""

    code: ClassVar[str] = "INTERNAL"
    # For the plain-HTTP endpoints (feedback, export), which answer with a status, not GraphQL.
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        # graphql-core copies an original error's ``extensions`` into the GraphQLError it
        # wraps it in: the code then travels on every path, subscriptions over WebSocket
        # included, not only through graph/operation.py's hook.
        self.extensions = {**extensions, "code": self.code}


class BadUserInput(AppError):
    code = "BAD_USER_INPUT"
    http_status = 400


class NotFound(AppError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(AppError):
    code = "CONFLICT"
    http_status = 409


class ModelUnavailable(AppError):
    code = "MODEL_UNAVAILABLE"
    http_status = 503


class BadModelResponse(AppError):
    code = "BAD_MODEL_RESPONSE"
    http_status = 502


class StorageUnavailable(AppError):
    code = "STORAGE_UNAVAILABLE"
    http_status = 503


class DatabaseNotMigrated(AppError):
    """The database answers but its schema is not this mlgraph's: an operator must migrate."""

    code = "DATABASE_NOT_MIGRATED"
    http_status = 503


# What a query can raise when the schema is missing or behind: PostgreSQL's "relation does not
# exist" is a ProgrammingError, SQLite's "no such table" an OperationalError.
_QUERY_ERRORS: tuple[type[BaseException], ...] = (*db.STORAGE_ERRORS, DBAPIError)


def storage_error(error: BaseException, schema_problem: str | None) -> AppError | None:
    """The ``AppError`` for a failed database query, or ``None`` if it is not one (a bug)."""
    if schema_problem is not None and isinstance(error, (*_QUERY_ERRORS, StorageUnavailable)):
        return DatabaseNotMigrated(schema_problem)
    if isinstance(error, db.STORAGE_ERRORS):
        return StorageUnavailable("the database is unavailable; retry later")
    return None


def from_model_error(error: mlclient.ModelError) -> AppError:
    """The ``AppError`` a caller should see for a failed model call."""
    if isinstance(error, mlclient.ModelRejectedInput):
        return BadUserInput(str(error), modelStatus=error.status_code)
    if isinstance(error, mlclient.ModelCircuitOpen):
        return ModelUnavailable(str(error), retryAfter=round(error.retry_after, 1))
    if isinstance(error, mlclient.ModelServerError):
        return ModelUnavailable(str(error), modelStatus=error.status_code)
    if isinstance(error, mlclient.ModelUnavailable):
        return ModelUnavailable(str(error))
    return BadModelResponse(str(error))


def with_code(error: GraphQLError, *, schema_problem: str | None = None) -> GraphQLError:
    """The error as the caller sees it: with a code, and masked when unexpected. Idempotent.

    ``schema_problem`` (the context's) turns a failed query into ``DATABASE_NOT_MIGRATED``.
    """
    if "code" in (error.extensions or {}):
        return error
    original = error.original_error
    stored = storage_error(original, schema_problem) if original is not None else None
    if stored is not None:
        if isinstance(stored, StorageUnavailable):
            logger.warning("database unavailable: %r", original)
        return _copy(error, str(stored), stored.extensions)
    if isinstance(original, AppError):
        return _copy(error, str(original), {**original.extensions, "code": original.code})
    if original is not None and not isinstance(original, GraphQLError):
        logger.error("unexpected error", exc_info=original)
        return _copy(error, "internal server error", {"code": "INTERNAL"})
    return _copy(error, error.message, {**(error.extensions or {}), "code": _graphql_code(error)})


def _graphql_code(error: GraphQLError) -> str:
    limit = limit_code(error.message)
    if limit is not None:
        return limit
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    # A new error without original_error, so no exception detail can leak into the response.
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
