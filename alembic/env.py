"""Alembic's entry point: runs migrations on an async engine, or on a connection it is given."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import db  # registers the tables on SQLModel.metadata
from graph.settings import InvalidSettings, load_settings

config = context.config
target_metadata = SQLModel.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leaves the monthly partitions of ``predictions`` out of autogenerate: they are made by
    migration 0005 and ``mlgraph maintain``, not by the models."""
    return not (type_ == "table" and name is not None and db.partitions.is_partition(name))


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=include_name,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def statement_cache() -> bool:
    """``MLGRAPH_DATABASE_STATEMENT_CACHE``, as ``mlgraph migrate`` passes it or from the
    environment: behind PgBouncer in transaction mode, migrations need it off too."""
    given = config.attributes.get("statement_cache")
    if given is not None:
        return bool(given)
    try:
        return load_settings().database_statement_cache
    except InvalidSettings as exc:
        raise SystemExit("\n".join(exc.problems)) from None


async def run_async_migrations(url: str) -> None:
    engine = create_async_engine(
        url,
        poolclass=pool.NullPool,
        connect_args=db.driver_options(url, statement_cache=statement_cache()),
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def database_url() -> str:
    """The URL ``mlgraph migrate`` set, else ``MLGRAPH_DATABASE_URL`` (``alembic`` by hand)."""
    given = config.get_main_option("sqlalchemy.url")
    if given:
        return given
    try:
        return load_settings().database_url
    except InvalidSettings as exc:
        raise SystemExit("\n".join(exc.problems)) from None


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    asyncio.run(run_async_migrations(database_url()))


if context.is_offline_mode():
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
