"""Growth: inserts and history pages at 1M and then 10M rows on the partitioned table, and
dropping an expired month.

    .venv/bin/python bench/growth.py --rows 1000000 10000000

Creates a fresh PostgreSQL database, migrates it (``mlgraph migrate``: ``predictions`` is
partitioned by month), makes the partitions of the last 14 months with
``db.partitions.maintain``, then for each size in ``--rows``: COPYs rows up to that size
(``history.seed``: several models, spread over the last 14 months, in time order), times
inserts through mlgraph's own PostgreSQL write path, ``db.pg_writes.write_calls`` (older
commits: ``db.predictions.create_predictions``), ``--writers`` concurrent writers, one call of
``--batch`` rows with a request id and one commit per call, as a lone classify call does, and
times the first page and the ``--pages``-th page (keyset) of
``db.predictions.list_predictions`` in this process (SQL and row loading, no HTTP: the
GraphQL layer's cost does not depend on the table's size; bench/history.py measures it).
Last, it runs ``db.partitions.maintain`` with a retention that expires the oldest month, times
it, and checks by counting that exactly that month's rows are gone. The database is dropped
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from _harness import (
    asyncpg_url,
    fresh_database,
    import_db,
    machine,
    make_partitions,
    percentile,
    table,
    use_ref,
)
from history import seed

MONTHS = 14  # of data; the oldest expires with a 12-month retention


async def inserts(database: str, calls: int, batch: int, writers: int) -> tuple[float, float]:
    """``calls`` classify-like inserts by ``writers`` concurrent tasks: (calls/s, p50 ms)."""
    db = import_db()
    from db.predictions import NewPrediction, create_predictions

    engine = db.make_engine(asyncpg_url(database), pool_size=writers, max_overflow=0)
    sessions = db.make_sessionmaker(engine)
    rows = [
        NewPrediction(features=[5.1, 3.5, 1.4, 0.2], label="setosa", probabilities={"setosa": 1.0})
    ] * batch
    times: list[float] = []
    remaining = iter(range(calls))

    try:
        # What classify's writer runs on PostgreSQL (db/pg_writes.py), one call per transaction.
        from db.pg_writes import write_calls
        from db.predictions import NewCall
    except ImportError:  # a --ref from before it: the ORM session path it replaced
        write_calls = None

    async def writer() -> None:
        for _ in remaining:
            started = time.perf_counter()
            if write_calls is not None:
                call = NewCall(rows, "iris", "1.4", 1.0, request_id=uuid.uuid4().hex)
                await write_calls(engine, calls=[call])
            else:
                async with sessions.begin() as session:
                    await create_predictions(
                        session,
                        rows=rows,
                        model_name="iris",
                        model_version="1.4",
                        latency_ms=1.0,
                        request_id=uuid.uuid4().hex,
                    )
            times.append((time.perf_counter() - started) * 1000)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return calls / seconds, statistics.median(times)


async def pages(
    database: str, cases: dict[str, dict[str, Any]], depth: int, repeats: int, size: int
) -> list[list[object]]:
    """p50/p95 of the first and the ``depth``-th page per case, in milliseconds."""
    db = import_db()
    from db.predictions import Keyset, list_predictions

    engine = db.make_engine(asyncpg_url(database))
    results: list[list[object]] = []
    try:
        sessions = db.make_sessionmaker(engine)
        for label, case in cases.items():
            after = None
            async with sessions() as session:
                for _ in range(depth - 1):
                    rows = await list_predictions(session, limit=size, after=after, **case)
                    after = Keyset(created_at=rows[-1].created_at, id=rows[-1].id)
            timed: dict[str, list[float]] = {"first page": [], f"page {depth}": []}
            for _ in range(repeats):
                for which, keyset in (("first page", None), (f"page {depth}", after)):
                    # A new session each time: nothing cached in the identity map.
                    async with sessions() as session:
                        started = time.perf_counter()
                        rows = await list_predictions(session, limit=size, after=keyset, **case)
                        timed[which].append((time.perf_counter() - started) * 1000)
                    assert len(rows) == size, f"{label}: seed more rows"
            for which, times in timed.items():
                results.append([label, which, len(times), f"{statistics.median(times):.2f}",
                                f"{percentile(times, 95):.2f}"])  # fmt: skip
    finally:
        await engine.dispose()
    return results


async def count(database: str, relation: str) -> int:
    import asyncpg
    from _harness import PG

    connection = await asyncpg.connect(f"postgresql://{PG}/{database}")
    try:
        return int(await connection.fetchval(f"SELECT count(*) FROM {relation}"))
    finally:
        await connection.close()


async def drop_oldest(database: str, now: datetime) -> dict[str, Any]:
    """Expire the oldest month (retention 12) with ``maintain``; count before and after."""
    db = import_db()
    oldest = db.partitions.partition_name(db.partitions.month_start(now, -(MONTHS - 1)))
    total, month = await count(database, "predictions"), await count(database, oldest)
    engine = db.make_engine(asyncpg_url(database))
    try:
        started = time.perf_counter()
        async with db.make_sessionmaker(engine).begin() as session:
            report = await db.partitions.maintain(
                session, now=now, retention_months=MONTHS - 2, months_ahead=3
            )
        seconds = time.perf_counter() - started
        async with db.make_sessionmaker(engine)() as session:
            left = await db.partitions.list_partitions(session)
    finally:
        await engine.dispose()
    after = await count(database, "predictions")
    return {
        "partition": oldest,
        "dropped": report.dropped,
        "seconds": seconds,
        "month_rows": month,
        "before": total,
        "after": after,
        "intact": after == total - month and report.dropped == [oldest] and oldest not in left,
        "default_rows": report.default_rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--calls", type=int, default=2000, help="timed insert calls per size")
    parser.add_argument("--batch", type=int, default=10, help="rows per insert call")
    parser.add_argument("--writers", type=int, default=8, help="concurrent insert calls")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per page")
    parser.add_argument("--pages", type=int, default=50, help="the deep page's number")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--ref", help="run mlgraph's db/ from this commit, e.g. HEAD")
    args = parser.parse_args()
    if sorted(args.rows) != args.rows or args.rows[-1] > 10_000_000 or args.calls > 100_000:
        parser.error("keep runs bounded: increasing --rows up to 10000000, --calls <= 100000")

    info = machine()
    now = datetime.now(UTC).replace(microsecond=0)
    days = (now - _month_start(now, -(MONTHS - 1))).total_seconds() / 86400
    cases = {
        "iris, last 30 days": {
            "model_name": "iris",
            "since": now - timedelta(days=30),
            "until": now + timedelta(hours=1),
        },
        "churn, 60 days across a month boundary": {
            "model_name": "churn",
            "since": now - timedelta(days=90),
            "until": now - timedelta(days=30),
        },
        "canary (2%), no date range (every partition)": {"model_name": "canary"},
    }
    summary: list[list[object]] = []
    with use_ref(args.ref) as code, fresh_database() as name:
        print(f"# growth benchmark, {info['date']}")
        print(f"machine: nproc={info['nproc']}, {info['cpu']}; mlgraph at {code}")
        first = _month_start(now, -(MONTHS - 1))
        made = asyncio.run(make_partitions(name, first=first, months=MONTHS + 2))
        print(f"partitions made for the data: {made[0]} .. {made[-1]} ({len(made)})")
        stored = 0
        for size in args.rows:
            # Each step adds its rows over the same 14 months, each COPY in time order.
            seconds = asyncio.run(seed(name, size - stored, days=int(days)))
            copy_rate = (size - stored) / seconds
            stored = size
            rate, insert_p50 = asyncio.run(inserts(name, args.calls, args.batch, args.writers))
            stored_now = asyncio.run(count(name, "predictions"))
            print(f"\n## {stored_now:,} rows")
            print(f"COPY: {seconds:.1f} s ({copy_rate:,.0f} rows/s, then VACUUM ANALYZE)")
            print(
                f"inserts: {rate:.0f} calls/s = {rate * args.batch:,.0f} rows/s, "
                f"p50 {insert_p50:.2f} ms per call ({args.writers} writers, {args.batch} rows "
                "and one commit per call)"
            )
            rows = asyncio.run(pages(name, cases, args.pages, args.repeats, args.page_size))
            print(table(["case", "page", "runs", "p50 ms", "p95 ms"], rows))
            first = [float(r[3]) for r in rows if r[1] == "first page"]
            deep = [float(r[3]) for r in rows if r[1] != "first page"]
            summary.append([f"{stored_now:,}", f"{copy_rate:,.0f}", f"{rate * args.batch:,.0f}",
                            f"{insert_p50:.2f}", " / ".join(f"{x:.2f}" for x in first),
                            " / ".join(f"{x:.2f}" for x in deep)])  # fmt: skip
        print("\n## Summary (pages: the cases above in order, p50 ms)\n")
        print(table(["rows", "COPY rows/s", "insert rows/s", "insert p50 ms/call",
                     "first page p50 ms", f"page {args.pages} p50 ms"], summary))  # fmt: skip
        dropped = asyncio.run(drop_oldest(name, now))
        print(
            f"\n## Dropping the expired month {dropped['partition']} "
            f"({dropped['month_rows']:,} rows) with db.partitions.maintain\n"
        )
        print(
            f"maintain (its actuals deleted, DETACH PARTITION, DROP TABLE, one transaction): "
            f"{dropped['seconds'] * 1000:.1f} ms; rows {dropped['before']:,} -> "
            f"{dropped['after']:,}; rest intact: {dropped['intact']}; "
            f"DEFAULT partition rows: {dropped['default_rows']}"
        )
    return 0 if summary and dropped["intact"] else 1


def _month_start(value: datetime, months: int) -> datetime:
    index = value.year * 12 + value.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


if __name__ == "__main__":
    sys.exit(main())
