"""Export of stored predictions with their actuals: Parquet or CSV files, and ``/export.csv``.

Rows are streamed from the database in batches (``db.export``), so memory is bounded by the
batch size, not by the range. In both formats ``features`` is the input row and
``probabilities`` JSON text; CSV writes ``features`` as a JSON array.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

import db
from db import export as queries
from graph.auth import Scope, authorize
from graph.errors import AppError
from graph.settings import Settings
from graph.validation import utc

__all__ = ["SCHEMA", "export_csv", "write_csv", "write_parquet"]

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("request_id", pa.string()),
        ("row_index", pa.int64()),
        ("features", pa.list_(pa.float64())),
        ("label", pa.string()),
        ("probabilities", pa.string()),
        ("latency_ms", pa.float64()),
        ("actual", pa.string()),
    ]
)

Batches = AsyncIterator[Sequence[Any]]


def _record(row: Sequence[Any]) -> dict[str, Any]:
    values = dict(zip(queries.EXPORT_COLUMNS, row, strict=True))
    values["id"] = str(values["id"])
    probabilities = values["probabilities"]
    values["probabilities"] = json.dumps(probabilities) if probabilities is not None else None
    return values


async def write_parquet(batches: Batches, path: Path, advance: Callable[[int], None]) -> int:
    """Write each batch as a row group as it arrives; returns the row count."""
    total = 0
    with pq.ParquetWriter(str(path), SCHEMA) as writer:
        async for batch in batches:
            records = [_record(row) for row in batch]
            writer.write_table(pa.Table.from_pylist(records, schema=SCHEMA))
            total += len(records)
            advance(len(records))
    return total


async def csv_chunks(batches: Batches) -> AsyncIterator[str]:
    """CSV text, the header first, one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(queries.EXPORT_COLUMNS)
    yield buffer.getvalue()
    async for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in batch:
            record = _record(row)
            record["created_at"] = record["created_at"].isoformat()
            record["features"] = json.dumps(record["features"])
            writer.writerow(record.values())
        yield buffer.getvalue()


async def write_csv(batches: Batches, path: Path, advance: Callable[[int], None]) -> int:
    """Write the CSV export to ``path``; returns the row count."""
    counted = [0]

    async def counting() -> Batches:
        async for batch in batches:
            counted[0] += len(batch)
            advance(len(batch))
            yield batch

    with path.open("w", newline="") as out:
        async for chunk in csv_chunks(counting()):
            out.write(chunk)
    return counted[0]


async def export_csv(request: Request) -> Response:
    """``GET /export.csv?since=…&until=…[&model=…]``: the CSV export, streamed."""
    try:
        await authorize(request, Scope.READ)
        since, until = (_date(request, name) for name in ("since", "until"))
    except AppError as error:
        return JSONResponse(
            {"error": str(error), "code": error.code}, status_code=error.http_status
        )
    model = request.query_params.get("model")
    sessions: db.Sessions = request.state.sessions

    async def body() -> AsyncIterator[str]:
        async with sessions() as session:
            batches = queries.stream_export_rows(
                session, since=since, until=until, model_name=model
            )
            async for chunk in csv_chunks(batches):
                yield chunk

    return StreamingResponse(body(), media_type="text/csv")


def _date(request: Request, name: str) -> datetime:
    from graph.errors import BadUserInput

    value = request.query_params.get(name)
    try:
        parsed = utc(datetime.fromisoformat(value or ""))
    except ValueError as exc:
        raise BadUserInput(f"{name} must be an ISO 8601 date", argument=name) from exc
    assert parsed is not None
    return parsed


def run_export(
    settings: Settings, since: str, until: str, model: str | None, fmt: str, out: str
) -> int:
    """``mlgraph export``: stream the range to ``out`` with a rich progress bar."""
    import asyncio

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
