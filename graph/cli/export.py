"""``mlgraph export``: a range of predictions with their actuals to a Parquet or CSV file."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import db
from db import export as queries
from graph.export import write_csv, write_parquet
from graph.settings import Settings
from graph.validation import utc

__all__ = ["export"]


def export(
    settings: Settings, since: str, until: str, model: str | None, fmt: str, out: str
) -> int:
    """Stream the range to ``out`` with a rich progress bar."""
    from rich.progress import Progress

    start = utc(datetime.fromisoformat(since), argument="since")
    end = utc(datetime.fromisoformat(until), argument="until")

    async def main() -> int:
        engine = db.make_engine(settings.database_url)
        try:
            sessions = db.make_sessionmaker(engine)
            async with sessions() as session:
                total = await queries.count_export_rows(
                    session, since=start, until=end, model_name=model
                )
            with Progress() as progress:
                task = progress.add_task(f"exporting to {out}", total=total)
                async with sessions() as session:
                    batches = queries.stream_export_rows(
                        session, since=start, until=end, model_name=model
                    )
                    writer = write_parquet if fmt == "parquet" else write_csv
                    return await writer(batches, Path(out), lambda n: progress.advance(task, n))
        finally:
            await engine.dispose()

    count = asyncio.run(main())
    print(f"{count} rows written to {out}")
    return 0
