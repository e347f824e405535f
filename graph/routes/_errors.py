"""The plain-HTTP routes' errors: what ``with_code`` does for GraphQL, for one exception."""

from __future__ import annotations

from starlette.requests import Request

from graph.errors import AppError, storage_error

__all__ = ["as_app_error"]


async def as_app_error(request: Request, error: Exception) -> AppError:
    """``error`` as the ``AppError`` to answer with; anything else is re-raised (a bug)."""
    stored = storage_error(error, await request.state.schema.problem())
    if stored is not None:
        return stored
    if isinstance(error, AppError):
        return error
    raise error
