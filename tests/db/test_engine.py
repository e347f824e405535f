"""The engine's error handling: a lost PostgreSQL connection is a storage error."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

import db
from tests.utils.pgbouncer import PgBouncer, interleave_transactions


@pytest.mark.postgres_only
async def test_a_connection_the_server_ended_is_a_storage_error(engine: AsyncEngine) -> None:
    # What a query in flight sees when PostgreSQL restarts (SQLSTATE 57P01); asyncpg's error
    # arrives as a plain DBAPIError unless the engine translates it.
    async with engine.connect() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        query = asyncio.create_task(connection.execute(text("SELECT pg_sleep(30)")))
        async with engine.connect() as other:
            for _ in range(1000):  # until the query is running, at most ~10 s
                sleeping = await other.scalar(
                    text("SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pid},
                )
                if sleeping:
                    break
                await asyncio.sleep(0.01)
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(db.STORAGE_ERRORS) as caught:
            await query
    assert isinstance(caught.value, exc.DBAPIError)
    assert caught.value.connection_invalidated
    # The pool replaced the dead connection: the next checkout works.
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1


@pytest.mark.postgres_only
async def test_behind_pgbouncer_cached_statements_break_without_the_setting(
    database_url: str, pgbouncer: PgBouncer
) -> None:
    engine = db.make_engine(pgbouncer.url(database_url))  # statement_cache=True, the default
    try:
        with pytest.raises(exc.DBAPIError) as caught:
            await interleave_transactions(engine)
    finally:
        await engine.dispose()
    assert 'prepared statement "__asyncpg_stmt_' in str(caught.value)
    assert "does not exist" in str(caught.value)


@pytest.mark.postgres_only
async def test_behind_pgbouncer_statement_cache_off_works_and_leaves_no_statements(
    database_url: str, pgbouncer: PgBouncer
) -> None:
    engine = db.make_engine(pgbouncer.url(database_url), statement_cache=False)
    try:
        for _ in range(3):
            await interleave_transactions(engine)
        # Every server connection the pool has used, each held by a transaction at once.
        async with engine.connect() as first, engine.connect() as second:
            left = [
                await connection.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
                for connection in (first, second)
            ]
            servers = {
                await connection.scalar(text("SELECT pg_backend_pid()"))
                for connection in (first, second)
            }
    finally:
        await engine.dispose()
    assert len(servers) == 2  # really two server connections behind one pool
    assert left == [0, 0]  # unnamed statements: nothing piles up on the server connections
