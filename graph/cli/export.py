"""``mlgraph export``: a range of predictions with their actuals to a Parquet or CSV file."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import db
from db import export as queries
from graph.cli._database import CommandError, open_database
from graph.errors import BadUserInput
from graph.export import write_csv, write_parquet
from graph.settings import Settings
from graph.validation import utc

__all__ = ["export"]


def export(
    settings: Settings, since: str, until: str, model: str | None, fmt: str, out: str
) -> int:
    """Stream the range to ``out`` with a rich progress bar; ``CommandError`` (one line) when
    the range's rows cannot be one table (``db.export.ExportConflict``)."""
    from rich.progress import Progress

    start, end = _date("--since", since), _date("--until", until)
    if not Path(out).resolve().parent.is_dir():
        raise CommandError(f"--out: the folder {Path(out).resolve().parent} does not exist")

    async def main() -> int:
        # A training set may be large: the read replica, when there is one, bears the scan.
        async with open_database(
            settings.read_url, statement_cache=settings.database_statement_cache
        ) as engine:
            sessions = db.make_sessionmaker(engine)
            async with sessions() as session:
                plan = await queries.plan_export(session, since=start, until=end, model_name=model)
            with Progress() as progress:
                task = progress.add_task(f"exporting to {out}", total=plan.total)
                async with sessions() as session:
                    batches = queries.stream_export_rows(
                        session, since=start, until=end, model_name=model
                    )
                    writer = write_parquet if fmt == "parquet" else write_csv
                    return await writer(
                        plan, batches, Path(out), lambda n: progress.advance(task, n)
                    )

    try:
        count = asyncio.run(main())
    except queries.ExportConflict as exc:
        raise CommandError(f"cannot export the range as one table: {exc}") from None
    print(f"{count} rows written to {out}")
    return 0


def _date(option: str, text: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(text), argument=option)
    except (ValueError, BadUserInput):
        raise CommandError(f"{option}: {text!r} is not an ISO 8601 date, e.g. 2026-03-01") from None
