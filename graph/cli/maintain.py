"""``mlgraph maintain``: retention and the coming months' partitions, daily from a CronJob."""

from __future__ import annotations

from datetime import UTC, datetime

import db
from graph.cli._database import open_database
from graph.settings import Settings

__all__ = ["maintain"]


async def maintain(settings: Settings) -> int:
    async with (
        open_database(
            settings.database_url, statement_cache=settings.database_statement_cache
        ) as engine,
        db.make_sessionmaker(engine).begin() as session,
    ):
        report = await db.partitions.maintain(
            session,
            now=datetime.now(UTC),
            retention_months=settings.retention_months,
            months_ahead=settings.partitions_ahead,
        )
    print(f"retention: keeping predictions from {report.cutoff:%Y-%m-%d} (UTC) on")
    if report.dialect == "postgresql":
        print(f"created partitions: {', '.join(report.created) or 'none'}")
        print(f"dropped partitions: {', '.join(report.dropped) or 'none'}")
        for name in report.skipped:
            print(f"warning: {name} not created: {db.partitions.DEFAULT_PARTITION} holds its rows")
        if report.default_rows:
            print(
                f"warning: {report.default_rows} row(s) in {db.partitions.DEFAULT_PARTITION}: "
                "run maintain more often or raise MLGRAPH_PARTITIONS_AHEAD; rows are not moved"
            )
    else:
        print(
            f"{report.dialect} has no partitions: deleted {report.deleted_predictions} "
            "prediction(s) in batches"
        )
    print(f"deleted {report.deleted_actuals} actual(s) and {report.deleted_requests} request id(s)")
    return 0
