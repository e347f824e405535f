"""What the commands that use the database share: the engine, the schema check, one-line errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

import db
from db.urls import describe_url
from graph.migrations import DATABASE_ERRORS, SchemaState, schema_state

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["CommandError", "database_problem", "open_database", "read_schema"]


class CommandError(Exception):
    """A command failed in a way the user can act on: ``mlgraph`` prints it as one line."""


def database_problem(url: str, error: BaseException) -> str:
    """One line for a database that cannot be used: where it is and why (no password)."""
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, ConnectionRefusedError):
        reason = "connection refused; is the server running, on that host and port?"
    elif str(cause).strip():
        reason = str(cause).strip().splitlines()[0]
    else:
        reason = type(cause).__name__
    return f"cannot use the database ({describe_url(url)}): {reason}"


async def read_schema(url: str, *, statement_cache: bool = True) -> SchemaState:
    """The database's revision; ``CommandError`` when it cannot be reached."""
    engine = db.make_engine(url, pool_size=1, max_overflow=0, statement_cache=statement_cache)
    try:
        return await schema_state(engine)
    except DATABASE_ERRORS as exc:
        raise CommandError(database_problem(url, exc)) from None
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_database(
    url: str, *, pool_size: int = 1, statement_cache: bool = True
) -> AsyncIterator[AsyncEngine]:
    """An engine on a database that answers and is migrated; else ``CommandError`` saying
    what to do (``run `mlgraph migrate```). ``statement_cache`` is
    ``MLGRAPH_DATABASE_STATEMENT_CACHE`` (``db.driver_options``)."""
    missing = _missing_file(url)
    if missing is not None:
        # Connecting would create an empty file here, and a second database to wonder about.
        raise CommandError(
            f"the database file {missing} does not exist: run `mlgraph migrate` to create it, "
            "or set MLGRAPH_DATABASE_URL to the one you use"
        )
    engine = db.make_engine(
        url, pool_size=pool_size, max_overflow=pool_size, statement_cache=statement_cache
    )
    try:
        try:
            state = await schema_state(engine)
        except DATABASE_ERRORS as exc:
            raise CommandError(database_problem(url, exc)) from None
        problem = state.problem()
        if problem is not None:
            raise CommandError(problem)
        yield engine
    finally:
        await engine.dispose()


def _missing_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database).resolve()
    return None if path.exists() else path
