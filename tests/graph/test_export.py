"""Export round trips: Parquet read back with pyarrow and the streamed CSV equal stored rows,
one column per feature and per class."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import db
from db import actuals
from db import export as queries
from graph.cli import main
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
    # Stored without a schema: the features are named by position.
    return [
        {
            "id": str(r.id),
            **{f"f{i}": value for i, value in enumerate(r.features)},
            "label": r.label,
            "proba_a": (r.probabilities or {}).get("a"),
            "proba_b": (r.probabilities or {}).get("b"),
            "latency_ms": r.latency_ms,
            "request_id": r.request_id,
            "actual": "a" if r is rows[3] else None,
        }
        for r in rows
    ]


def _plan(session: AsyncSession) -> Any:
    return queries.plan_export(session, since=T0, until=T0 + timedelta(days=1))


async def test_parquet_round_trip(session: AsyncSession, tmp_path: Path) -> None:
    expected = await _store(session)
    path = tmp_path / "out.parquet"
    seen: list[int] = []
    plan = await _plan(session)
    batches = queries.stream_export_rows(
        session, since=T0, until=T0 + timedelta(days=1), batch_size=10
    )
    assert await write_parquet(plan, batches, path, seen.append) == 25
    assert seen == [10, 10, 5]
    table = pq.read_table(path)
    assert table.column_names == [
        "id", "created_at", "model_name", "model_version", "request_id", "row_index",
        "f0", "f1", "f2", "f3", "label", "proba_a", "proba_b", "latency_ms", "actual",
    ]  # fmt: skip
    got = [{key: r[key] for key in expected[0]} for r in table.to_pylist()]
    assert got == expected
    assert table.to_pylist()[0]["created_at"] == T0


async def test_csv_download_round_trip(app_client: AppClient, session: AsyncSession) -> None:
    expected = await _store(session)
    async with app_client() as client:
        response = await client.get(
            "/export.csv",
            params={"since": T0.isoformat(), "until": (T0 + timedelta(days=1)).isoformat()},
        )
        bad = await client.get("/export.csv", params={"since": "x", "until": "y"})
        missing = await client.get("/export.csv", params={"until": "2026-03-08"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == [e["id"] for e in expected]
    for got, want in zip(rows, expected, strict=True):
        assert [float(got[f"f{i}"]) for i in range(4)] == [want[f"f{i}"] for i in range(4)]
        assert (float(got["proba_b"]) if got["proba_b"] else None) == want["proba_b"]
    assert [r["actual"] or None for r in rows] == [e["actual"] for e in expected]
    assert bad.status_code == 400
    assert bad.json() == {
        "error": "since must be an ISO 8601 date or time, e.g. 2026-03-01, not 'x'",
        "code": "BAD_USER_INPUT",
    }
    assert missing.status_code == 400
    assert missing.json()["error"].startswith("since is required: /export.csv?since=")


def test_export_command_writes_the_range(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def seed() -> list[dict[str, object]]:
        engine = db.make_engine(database_url)
        try:
            async with db.make_sessionmaker(engine)() as session:
                return await _store(session)
        finally:
            await engine.dispose()

    expected = asyncio.run(seed())
    monkeypatch.setenv("MLGRAPH_DATABASE_URL", database_url)
    out = tmp_path / "train.parquet"
    since, until = T0.isoformat(), (T0 + timedelta(days=1)).isoformat()
    argv = ["export", "--since", since, "--until", until, "--model", "iris", "--out", str(out)]
    assert main(argv) == 0
    assert f"{len(expected)} rows written to {out}" in capsys.readouterr().out
    table = pq.read_table(out).to_pylist()
    assert sorted(str(r["id"]) for r in table) == sorted(str(r["id"]) for r in expected)
    assert {r["actual"] for r in table} == {"a", None}

    csv_out = tmp_path / "train.csv"
    argv = ["export", "--since", since, "--until", until, "--format", "csv", "--out", str(csv_out)]
    assert main(argv) == 0
    assert len(list(csv.DictReader(io.StringIO(csv_out.read_text())))) == len(expected)
    assert main([*argv[:-1], str(tmp_path / "other.csv"), "--model", "nope"]) == 0
    assert list(csv.DictReader(io.StringIO((tmp_path / "other.csv").read_text()))) == []
