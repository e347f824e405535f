"""The export's formats: Parquet and CSV writers over batches of stored rows with their actuals.

Shared by ``mlgraph export`` (graph/cli/export.py, a file) and ``GET /export.csv``
(graph/routes/export_csv.py, a stream). Rows arrive from the database in batches
(``db.export``), so memory is bounded by the batch size, not by the range.

An export is a training set: its columns are the metadata (``id``, ``created_at``,
``model_name``, ``model_version``, ``request_id``, ``row_index``), one column per feature under
its name (float for a numerical feature, string for a categorical one; empty where a row lacks
it), the ``label``, one ``proba_<class>`` column per class, ``latency_ms`` and the ``actual``.
``pandas.read_parquet`` gives a frame a model's own ``fit`` takes as it is; CSV has the same
columns, though a reader must be told the kinds (a category "1" reads back as a number).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from db import export as queries
from db.export import PROBABILITY_PREFIX, ExportPlan
from db.features import CATEGORICAL

__all__ = ["Batches", "columns", "csv_chunks", "schema", "write_csv", "write_parquet"]

Batches = AsyncIterator[Sequence[Any]]

_BEFORE = (
    ("id", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("request_id", pa.string()),
    ("row_index", pa.int64()),
)
_AFTER = (("latency_ms", pa.float64()), ("actual", pa.string()))


def schema(plan: ExportPlan) -> pa.Schema:
    """The export's columns, typed: what ``pyarrow`` (and ``pandas.read_parquet``) read back."""
    features = [
        (f.name, pa.string() if f.kind == CATEGORICAL else pa.float64()) for f in plan.features
    ]
    probabilities = [(PROBABILITY_PREFIX + c, pa.float64()) for c in plan.classes]
    return pa.schema([*_BEFORE, *features, ("label", pa.string()), *probabilities, *_AFTER])


def columns(plan: ExportPlan) -> list[str]:
    return list(schema(plan).names)


def _record(plan: ExportPlan, row: Sequence[Any]) -> dict[str, Any]:
    values = dict(zip(queries.EXPORT_COLUMNS, row, strict=True))
    record: dict[str, Any] = {name: values[name] for name, _ in _BEFORE}
    record["id"] = str(record["id"])
    features = values["features"]
    names = plan.catalog.columns(values["model_name"], values["schema_id"], len(features))
    by_name = {column.name: value for column, value in zip(names, features, strict=True)}
    record.update({f.name: by_name.get(f.name) for f in plan.features})
    record["label"] = values["label"]
    probabilities = values["probabilities"] or {}
    record.update({PROBABILITY_PREFIX + c: probabilities.get(c) for c in plan.classes})
    record.update({name: values[name] for name, _ in _AFTER})
    return record


async def write_parquet(
    plan: ExportPlan, batches: Batches, path: Path, advance: Callable[[int], None]
) -> int:
    """Write each batch as a row group as it arrives; returns the row count."""
    total = 0
    columns = schema(plan)
    with pq.ParquetWriter(str(path), columns) as writer:
        async for batch in batches:
            records = [_record(plan, row) for row in batch]
            writer.write_table(pa.Table.from_pylist(records, schema=columns))
            total += len(records)
            advance(len(records))
    return total


async def csv_chunks(plan: ExportPlan, batches: Batches) -> AsyncIterator[str]:
    """CSV text, the header first, one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns(plan))
    yield buffer.getvalue()
    async for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in batch:
            record = _record(plan, row)
            record["created_at"] = record["created_at"].isoformat()
            writer.writerow(record.values())
        yield buffer.getvalue()


async def write_csv(
    plan: ExportPlan, batches: Batches, path: Path, advance: Callable[[int], None]
) -> int:
    """Write the CSV export to ``path``; returns the row count."""
    counted = [0]

    async def counting() -> Batches:
        async for batch in batches:
            counted[0] += len(batch)
            advance(len(batch))
            yield batch

    with path.open("w", newline="") as out:
        async for chunk in csv_chunks(plan, counting()):
            out.write(chunk)
    return counted[0]
