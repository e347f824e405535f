"""``mlgraph migrate``: Alembic upgrades and downgrades, without alembic.ini, saying what it did."""

from __future__ import annotations

import asyncio

from graph.cli._database import CommandError, read_schema
from graph.migrations import alembic_config
from graph.settings import Settings

__all__ = ["migrate"]

_EMPTY = "base (no tables)"


def migrate(settings: Settings, revision: str, *, down: bool) -> int:
    """Upgrade (or with ``down``, downgrade) to ``revision``; prints from which to which."""
    from alembic import command
    from alembic.util import CommandError as AlembicError

    cache = settings.database_statement_cache
    before = asyncio.run(read_schema(settings.database_url, statement_cache=cache))
    config = alembic_config(settings.database_url, statement_cache=cache)
    try:
        if down:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)
    except AlembicError as exc:  # a revision that does not exist, or the wrong direction
        raise CommandError(f"{exc} (revisions: head, base, or an id such as 0005)") from None
    after = asyncio.run(read_schema(settings.database_url, statement_cache=cache))
    if before.current == after.current:
        print(f"{after.where}: already at revision {after.current or _EMPTY}; nothing to do")
    else:
        print(
            f"{after.where}: migrated from revision {before.current or _EMPTY} "
            f"to {after.current or _EMPTY}"
        )
    return 0
