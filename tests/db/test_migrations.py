"""Migrations on both databases: one head, base -> head -> base, and models == migrations."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import db  # registers the tables
from graph.migrations import alembic_config
from tests.utils.migrations import migrate


def _script() -> ScriptDirectory:
    config = alembic_config("sqlite://")
    assert isinstance(config, Config)
    return ScriptDirectory.from_config(config)


async def _inspect(url: str, fn: Any) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(fn)
    finally:
        await engine.dispose()


def _tables(connection: Connection) -> set[str]:
    # PostgreSQL lists the partitions of predictions as tables too; the models don't.
    names = inspect(connection).get_table_names()
    return {name for name in names if not db.partitions.is_partition(name)}


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and name is not None and db.partitions.is_partition(name))


def _diff(connection: Connection) -> list[Any]:
    opts = {"compare_type": True, "include_name": _include_name}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, SQLModel.metadata))


def test_single_head_revision() -> None:
    assert len(_script().get_heads()) == 1


def test_upgrade_downgrade_round_trip_and_models_match(empty_database_url: str) -> None:
    url = empty_database_url
    migrate(url, "head")
    expected = {t.name for t in SQLModel.metadata.sorted_tables} | {"alembic_version"}
    assert asyncio.run(_inspect(url, _tables)) == expected
    assert asyncio.run(_inspect(url, _diff)) == []

    migrate(url, "base", down=True)
    assert asyncio.run(_inspect(url, _tables)) == {"alembic_version"}

    migrate(url, "head")
    assert asyncio.run(_inspect(url, _diff)) == []


def test_each_revision_steps_up_and_down(empty_database_url: str) -> None:
    url = empty_database_url
    revisions = [r.revision for r in reversed(list(_script().walk_revisions()))]
    for revision in revisions:
        migrate(url, revision)
        migrate(url, "-1", down=True)
        migrate(url, revision)
    assert asyncio.run(_inspect(url, _diff)) == []
