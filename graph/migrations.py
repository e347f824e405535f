"""Where the database's schema stands: its Alembic revision against the migrations shipped.

``mlgraph serve`` checks at start-up and ``/readyz`` on every probe; each command checks before
it touches a table. A database that was never migrated, or is behind, is told apart from one
that is down, so that the message says what to do: run ``mlgraph migrate``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

import db
from db.urls import describe_url

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "ALEMBIC_DIR",
    "DATABASE_ERRORS",
    "SchemaGuard",
    "SchemaState",
    "alembic_config",
    "head_revision",
    "schema_state",
]

# The migrations ship beside the packages (the checkout, or /app in the image).
ALEMBIC_DIR = Path(__file__).resolve().parents[1] / "alembic"

# A database that is down, and one that refuses us (no such database, a wrong password: asyncpg
# raises those as plain DBAPIErrors), when all we did was connect and read the revision.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (*db.STORAGE_ERRORS, DBAPIError)

# How often a request may re-read the revision while the schema is not at head: often enough
# that calls work a moment after `mlgraph migrate`, rarely enough that a flood costs nothing.
RECHECK_SECONDS = 1.0


def alembic_config(database_url: str, *, statement_cache: bool = True) -> Config:
    """An Alembic ``Config`` for ``database_url``, without needing alembic.ini.

    ``statement_cache`` is ``MLGRAPH_DATABASE_STATEMENT_CACHE`` (alembic/env.py reads it).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    # ConfigParser treats % as interpolation; URLs may hold %-escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["statement_cache"] = statement_cache
    return config


@cache
def _revisions() -> tuple[str, frozenset[str]]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None, "alembic/versions/ holds no migration"
    return head, frozenset(revision.revision for revision in script.walk_revisions())


def head_revision() -> str:
    """The newest revision this mlgraph ships."""
    return _revisions()[0]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """The database's revision (``None``: never migrated) and the one this mlgraph needs."""

    current: str | None
    head: str
    where: str  # describe_url(): which file or server, never a password

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def newer(self) -> bool:
        """Migrated by a newer mlgraph: a revision this one does not ship.

        Not an error: during a rolling update the old pods keep serving while the new release's
        migration runs, and mlgraph's migrations keep the previous release working.
        """
        return self.current is not None and self.current not in _revisions()[1]

    @property
    def usable(self) -> bool:
        return self.up_to_date or self.newer

    def problem(self, *, say_where: bool = True) -> str | None:
        """What is wrong and what to do, or ``None`` when the schema can be used.

        ``say_where=False`` leaves out the file or server, for answers to API callers.
        """
        if self.usable:
            return None
        database = f"the database ({self.where})" if say_where else "the database"
        if self.current is None:
            return f"{database} has no mlgraph tables: run `mlgraph migrate`"
        return (
            f"{database} is at revision {self.current}, this mlgraph needs {self.head}: "
            "run `mlgraph migrate`"
        )


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Read the database's revision; raises one of ``DATABASE_ERRORS`` when it cannot."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revision)
    return SchemaState(current, head_revision(), describe_url(str(engine.url)))


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


class SchemaGuard:
    """Remembers whether the schema is usable, for requests to ask cheaply.

    Once the schema is usable it is never read again (no request pays for it); until then, a
    request re-reads it at most every ``RECHECK_SECONDS``, so the first calls after
    ``mlgraph migrate`` already work.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._usable = False
        self._problem: str | None = None
        self._checked_at = float("-inf")

    async def check(self) -> SchemaState:
        """Read the revision now (start-up, ``/readyz``); raises ``DATABASE_ERRORS``."""
        state = await schema_state(self._engine)
        self._usable = state.usable
        self._problem = state.problem(say_where=False)
        self._checked_at = time.monotonic()
        return state

    async def problem(self) -> str | None:
        """Why the schema cannot be used, or ``None`` (also when the database is down: that
        is reported as such by whatever query fails)."""
        if self._usable:
            return None
        if time.monotonic() - self._checked_at >= RECHECK_SECONDS:
            try:
                await self.check()
            except DATABASE_ERRORS:
                self._problem, self._checked_at = None, time.monotonic()
        return self._problem
