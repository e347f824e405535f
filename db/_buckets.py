"""Time buckets computed by the database, the same on PostgreSQL and SQLite.

Private to ``db``: the stats and actuals queries group by these expressions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, literal_column
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

Bucket = Literal["hour", "day", "week"]

# SQLite stores created_at as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text (db.types.UTCDateTime);
# strftime reads that and truncates. 'weekday 0' moves forward to the next Sunday (or stays on
# a Sunday) and '-6 days' goes back to that week's Monday, so weeks start on Monday as ISO and
# PostgreSQL's date_trunc('week') do.
_SQLITE_FORMATS: dict[str, tuple[str, ...]] = {
    "hour": ("%Y-%m-%d %H:00:00",),
    "day": ("%Y-%m-%d 00:00:00",),
    "week": ("%Y-%m-%d 00:00:00", "weekday 0", "-6 days"),
}


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def bucket_start(dialect: str, column: Any, bucket: Bucket) -> ColumnElement[Any]:
    """The start of ``column``'s bucket, in UTC, as a SQL expression."""
    if bucket not in _SQLITE_FORMATS:
        raise ValueError(f"unknown bucket {bucket!r}")
    if dialect == "sqlite":
        fmt, *modifiers = _SQLITE_FORMATS[bucket]
        # Whole seconds only: SQLite rounds fractions to milliseconds, which would move
        # 23:59:59.9999 into the next day.
        return func.strftime(fmt, func.substr(column, 1, 19), *modifiers)
    # The three-argument form truncates in UTC whatever the session's TimeZone is.
    return func.date_trunc(bucket, column, literal_column("'UTC'"))


def as_utc(value: datetime | str) -> datetime:
    """A bucket start as read back: aware datetime (PostgreSQL) or text (SQLite)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values, interpolated linearly between the two closest ranks.

    This is PostgreSQL's ``percentile_cont`` (and numpy's default ``linear`` method): position
    ``h = (n - 1) * q`` counted from 0, value ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1]
    - x[floor(h)])``. SQLite has no percentile function, so its queries fetch the one ordered
    column and call this.
    """
    if not ordered:
        raise ValueError("quantile of no values")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])
