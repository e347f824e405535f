"""Retention and monthly partitions of ``predictions`` (what ``mlgraph maintain`` runs).

On PostgreSQL ``predictions`` is partitioned by month of ``created_at`` (migration 0005):
``predictions_y2026m11`` holds November 2026 (UTC) and ``predictions_default`` anything no
month partition covers. ``maintain`` creates the coming months' partitions and drops whole
months older than the retention, with their actuals and request ids. It moves nothing out of
the DEFAULT partition: rows there mean ``maintain`` did not run in time, and are reported.

A month is dropped with a plain ``DETACH PARTITION``: ``DETACH ... CONCURRENTLY`` is refused
when the table has a DEFAULT partition (and cannot run in a transaction). Both take a short
lock; the month's rows are never scanned, except to delete the actuals joined to them.

On SQLite there are no partitions: rows older than the retention are deleted in batches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import column, delete, exists, func, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db._buckets import dialect_of
from db.tables import Actual, ClassifyRequest, Prediction
from db.types import UTCDateTime

__all__ = [
    "DEFAULT_PARTITION",
    "MaintenanceReport",
    "is_partition",
    "list_partitions",
    "maintain",
    "month_start",
    "partition_name",
]

DEFAULT_PARTITION = "predictions_default"
_MONTHLY = re.compile(r"^predictions_y(\d{4})m(\d{2})$")
_DEFAULT = table(DEFAULT_PARTITION, column("created_at", UTCDateTime()))


def month_start(value: datetime, months: int = 0) -> datetime:
    """The first instant (UTC) of ``value``'s month, moved by ``months`` (may be negative)."""
    value = value.astimezone(UTC)
    index = value.year * 12 + value.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    """``predictions_y2026m11`` for any instant of November 2026 (UTC)."""
    month = month.astimezone(UTC)
    return f"predictions_y{month:%Y}m{month:%m}"


def is_partition(name: str) -> bool:
    """Whether ``name`` is one of the partitions of ``predictions`` (not a model's table)."""
    return name == DEFAULT_PARTITION or _MONTHLY.match(name) is not None


@dataclass(slots=True)
class MaintenanceReport:
    """What ``maintain`` did. ``skipped`` months could not be made: the DEFAULT partition holds
    rows of them."""

    dialect: str
    cutoff: datetime
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted_predictions: int = 0
    deleted_actuals: int = 0
    deleted_requests: int = 0
    default_rows: int = 0


async def list_partitions(session: AsyncSession) -> dict[str, datetime | None]:
    """PostgreSQL: the partitions of ``predictions``, each with its month (None: DEFAULT)."""
    rows = await session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'predictions'::regclass"
        )
    )
    partitions: dict[str, datetime | None] = {}
    for (name,) in rows:
        match = _MONTHLY.match(name)
        partitions[name] = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC) if match else None
    return partitions


async def maintain(
    session: AsyncSession,
    *,
    now: datetime,
    retention_months: int,
    months_ahead: int,
    batch_size: int = 10_000,
) -> MaintenanceReport:
    """Keep ``retention_months`` whole months before ``now``'s month, and (PostgreSQL) have
    partitions up to ``months_ahead`` months after it.

    Rows created before the cutoff (the first instant of the month ``retention_months`` before
    ``now``'s) go, with their actuals and request ids. The caller commits.
    """
    if retention_months < 1 or months_ahead < 0:
        raise ValueError("retention_months must be >= 1 and months_ahead >= 0")
    cutoff = month_start(now, -retention_months)
    report = MaintenanceReport(dialect=dialect_of(session), cutoff=cutoff)
    if report.dialect == "postgresql":
        await _maintain_partitions(session, now, cutoff, months_ahead, report)
    else:
        await _delete_in_batches(session, cutoff, batch_size, report)
    result = await session.execute(
        delete(ClassifyRequest).where(col(ClassifyRequest.created_at) < cutoff)
    )
    report.deleted_requests = _rowcount(result)
    return report


async def _maintain_partitions(
    session: AsyncSession,
    now: datetime,
    cutoff: datetime,
    months_ahead: int,
    report: MaintenanceReport,
) -> None:
    partitions = await list_partitions(session)
    if DEFAULT_PARTITION not in partitions:
        await session.execute(
            text(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF predictions DEFAULT")
        )
        report.created.append(DEFAULT_PARTITION)
    for months in range(months_ahead + 1):
        start, end = month_start(now, months), month_start(now, months + 1)
        name = partition_name(start)
        if name in partitions:
            continue
        # Creating a month whose rows sit in DEFAULT fails (and would hide them): leave it.
        created_at = _DEFAULT.c.created_at
        held = await session.scalar(
            select(exists().where(created_at >= start, created_at < end).select_from(_DEFAULT))
        )
        if held:
            report.skipped.append(name)
            continue
        await session.execute(
            text(
                f"CREATE TABLE {name} PARTITION OF predictions "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        report.created.append(name)
    for name, month in sorted(partitions.items(), key=lambda item: item[0]):
        if month is None or month_start(month, 1) > cutoff:
            continue
        # No foreign key to cascade (predictions is partitioned): the month's actuals first.
        result = await session.execute(
            text(f"DELETE FROM actuals a USING {name} p WHERE a.prediction_id = p.id")
        )
        report.deleted_actuals += _rowcount(result)
        await session.execute(text(f"ALTER TABLE predictions DETACH PARTITION {name}"))
        await session.execute(text(f"DROP TABLE {name}"))
        report.dropped.append(name)
    report.default_rows = int(await session.scalar(select(func.count()).select_from(_DEFAULT)) or 0)


async def _delete_in_batches(
    session: AsyncSession, cutoff: datetime, batch_size: int, report: MaintenanceReport
) -> None:
    # Short statements: a writer waiting on SQLite's single write lock never waits long.
    old = select(col(Prediction.id)).where(col(Prediction.created_at) < cutoff)
    while True:
        ids = list(await session.scalars(old.limit(batch_size)))
        if not ids:
            return
        result = await session.execute(delete(Actual).where(col(Actual.prediction_id).in_(ids)))
        report.deleted_actuals += _rowcount(result)
        result = await session.execute(delete(Prediction).where(col(Prediction.id).in_(ids)))
        report.deleted_predictions += _rowcount(result)


def _rowcount(result: Any) -> int:
    # A DML statement's result is a CursorResult; Session.execute is typed as returning Result.
    return int(result.rowcount or 0)
