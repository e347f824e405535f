"""How far a streaming replica's replay is behind its primary."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["replay_lag_seconds"]

# Zero when the server is no replica, or has replayed all the WAL it received: an idle primary
# sends no new transactions, and the last replayed one's age would read as a growing lag.
_LAG = text(
    "SELECT CASE"
    " WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
    " END"
)


async def replay_lag_seconds(engine: AsyncEngine) -> float | None:
    """Seconds since the replica replayed its last transaction while more WAL waits; ``None``
    on SQLite, or before the replica has replayed any transaction."""
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as connection:
        lag = await connection.scalar(_LAG)
    return None if lag is None else float(lag)
