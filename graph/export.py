"""The export's formats: Parquet and CSV writers over batches of stored rows with their actuals.

Shared by ``mlgraph export`` (graph/cli/export.py, a file) and ``GET /export.csv``
(graph/routes/export_csv.py, a stream). Rows arrive from the database in batches
(``db.export``), so memory is bounded by the batch size, not by the range. In both formats
``features`` is the input row and ``probabilities`` JSON text; CSV writes ``features`` as a JSON
array.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from db import export as queries

__all__ = ["SCHEMA", "Batches", "csv_chunks", "write_csv", "write_parquet"]

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
