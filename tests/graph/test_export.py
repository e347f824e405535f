"""Export round trips: Parquet read back with pyarrow and the streamed CSV equal stored rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncSession

from db import actuals
from db import export as queries
from graph.export import write_parquet
from tests.conftest import AppClient
from tests.utils.builders import create_random_prediction

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def _store(session: AsyncSession) -> list[dict[str, object]]:
    rows = []
    for i in range(25):
        row = await create_random_prediction(
            session,
            created_at=T0 + timedelta(seconds=i),
            request_id=f"r{i}",
            probabilities={"a": 0.25, "b": 0.75} if i % 2 else None,
            latency_ms=float(i),
        )
        rows.append(row)
    await create_random_prediction(session, created_at=T0 + timedelta(days=3))
    await session.flush()
    await actuals.record_actuals(session, labels=[(rows[3].id, "a")])
    await session.commit()
    return [
        {
            "id": str(r.id),
            "features": r.features,
            "label": r.label,
            "probabilities": r.probabilities,
            "latency_ms": r.latency_ms,
            "request_id": r.request_id,
            "actual": "a" if r is rows[3] else None,
        }
        for r in rows
    ]


async def test_parquet_round_trip(session: AsyncSession, tmp_path: Path) -> None:
    expected = await _store(session)
    path = tmp_path / "out.parquet"
    seen: list[int] = []
    batches = queries.stream_export_rows(
        session, since=T0, until=T0 + timedelta(days=1), batch_size=10
    )
    assert await write_parquet(batches, path, seen.append) == 25
    assert seen == [10, 10, 5]
    table = pq.read_table(path).to_pylist()
    got = [
        {
            "id": r["id"],
            "features": r["features"],
            "label": r["label"],
            "probabilities": json.loads(r["probabilities"]) if r["probabilities"] else None,
            "latency_ms": r["latency_ms"],
            "request_id": r["request_id"],
            "actual": r["actual"],
        }
        for r in table
    ]
    assert got == expected
    assert table[0]["created_at"] == T0


async def test_csv_download_round_trip(app_client: AppClient, session: AsyncSession) -> None:
    expected = await _store(session)
    async with app_client() as client:
        response = await client.get(
            "/export.csv",
            params={"since": T0.isoformat(), "until": (T0 + timedelta(days=1)).isoformat()},
        )
        bad = await client.get("/export.csv", params={"since": "x", "until": "y"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == [e["id"] for e in expected]
    assert [json.loads(r["features"]) for r in rows] == [e["features"] for e in expected]
    assert [r["actual"] or None for r in rows] == [e["actual"] for e in expected]
    assert bad.status_code == 400
